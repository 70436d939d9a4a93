"""The `/docs` page: the OpenAPI document rendered as one self-contained HTML page.

Rendered on the server from the generated document, so the page and
`/openapi.json` cannot say different things. Nothing is fetched from
elsewhere (the machine may have no network): no scripts, fonts or images.
Each documented answer carries its docs/http-api.md anchors as ids, so the
`[anchor](/docs#anchor)` links of the document land on it.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

METHOD_ORDER = ("get", "post", "put", "patch", "delete")

STYLE = """
:root { --fg:#1d2430; --muted:#5b6472; --panel:#f5f7fa; --line:#dde2e8; --accent:#0b63c5;
        --ok:#1d7a3a; --redirect:#5b4bb5; --warn:#a35a00; --bad:#b3261e; }
* { box-sizing: border-box; }
body { margin:0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans",
       sans-serif; color:var(--fg); background:#fff; }
header.top { background:#14202e; color:#fff; padding:1.2rem 2rem; }
header.top h1 { margin:0; font-size:1.6rem; }
header.top p { margin:.4rem 0 0; color:#c3cedb; max-width:60rem; }
header.top a { color:#9fd0ff; }
main { max-width: 64rem; margin: 0 auto; padding: 1rem 2rem 4rem; }
h2 { margin-top:2.6rem; padding-top:.6rem; border-top:2px solid var(--line); font-size:1.45rem; }
h3 { margin:2rem 0 .3rem; font-size:1.12rem; }
h4 { margin:1rem 0 .2rem; font-size:.95rem; color:var(--muted); text-transform:uppercase;
     letter-spacing:.04em; }
a { color:var(--accent); text-decoration:none; } a:hover { text-decoration:underline; }
code { font: .88em/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
       background:var(--panel); padding:.08em .3em; border-radius:3px; overflow-wrap:anywhere; }
table { border-collapse: collapse; width:100%; margin:.5rem 0 1rem; font-size:.93rem; }
th, td { border:1px solid var(--line); padding:.4rem .6rem; text-align:left; vertical-align:top; }
th { background:var(--panel); }
td:first-child { white-space:nowrap; }
tr:target, section:target > h3 { outline:2px solid var(--accent); }
.method { display:inline-block; min-width:4.2rem; text-align:center; color:#fff;
          background:#3d4b5c; border-radius:4px; padding:.05em .4em; font-size:.85em; }
.status { color:#fff; padding:.1em .45em; font-weight:600; border-radius:3px; }
.s2xx { background:var(--ok); } .s3xx { background:var(--redirect); }
.s4xx { background:var(--warn); } .s5xx { background:var(--bad); }
.muted { color:var(--muted); } header.top .muted { color:#9fb0c3; }
ul.toc { columns: 2 22rem; padding-left:1.2rem; }
@media (max-width: 40rem) { main, header.top { padding-left:1rem; padding-right:1rem; }
  td:first-child { white-space:normal; } table { font-size:.85rem; } }
"""


def render(document: dict[str, Any]) -> str:
    """The whole page for an OpenAPI document as openapi.build makes it."""
    page = _Page(document)
    return page.html()


class _Page:
    def __init__(self, document: dict[str, Any]) -> None:
        self.doc = document
        self.ids: set[str] = set()

    def html(self) -> str:
        info = self.doc["info"]
        body = [self._operations(), self._shared_answers(), self._schemas()]
        return (
            '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(info['title'])} {escape(info['version'])}: HTTP API</title>\n"
            f"<style>{STYLE}</style>\n</head>\n<body>\n"
            f'<header class="top"><h1>{escape(info["title"])}: HTTP API '
            f'<span class="muted">{escape(info["version"])}</span></h1>\n'
            f"<p>{escape(info['summary'])} {_text(info['description'])}</p>\n"
            '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI '
            f"{escape(self.doc['openapi'])}); this page is rendered from it.</p></header>\n"
            f"<main>\n{self._toc()}\n{''.join(body)}</main>\n</body>\n</html>\n"
        )

    def _id(self, wanted: str) -> str:
        """`wanted` as an id attribute, or nothing if the page already has it."""
        if wanted in self.ids:
            return ""
        self.ids.add(wanted)
        return f' id="{escape(wanted)}"'

    def _by_tag(self) -> list[tuple[str, str, list[tuple[str, str, dict[str, Any]]]]]:
        tags = [(t["name"], t.get("description", "")) for t in self.doc.get("tags", [])]
        grouped = []
        for tag, about in tags:
            ops = [
                (path, method, item[method])
                for path, item in self.doc["paths"].items()
                for method in METHOD_ORDER
                if method in item and tag in item[method].get("tags", [])
            ]
            grouped.append((tag, about, ops))
        return grouped

    def _toc(self) -> str:
        items = []
        for tag, about, ops in self._by_tag():
            links = "".join(
                f'<li><a href="#op-{escape(op["operationId"])}"><span class="method">'
                f"{method.upper()}</span> <code>{escape(path)}</code></a> "
                f"{escape(op['summary'])}</li>"
                for path, method, op in ops
            )
            items.append(
                f"<h3>{escape(tag)} <span class='muted'>{escape(about)}</span></h3>"
                f'<ul class="toc">{links}</ul>'
            )
        return '<h2 id="endpoints">Endpoints</h2>' + "".join(items)

    def _operations(self) -> str:
        parts = []
        for tag, _, ops in self._by_tag():
            parts.append(f"<h2{self._id('tag-' + tag)}>{escape(tag)}</h2>")
            parts += [self._operation(path, method, op) for path, method, op in ops]
        return "\n".join(parts)

    def _operation(self, path: str, method: str, op: dict[str, Any]) -> str:
        item = self.doc["paths"][path]
        anchors = re.findall(r"\(/docs#([\w-]+)\)", op.get("description", ""))
        marks = "".join(f"<span{self._id(a)}></span>" for a in anchors)
        out = [
            f"<section{self._id('op-' + op['operationId'])}>{marks}",
            f'<h3><span class="method">{method.upper()}</span> <code>{escape(path)}</code> '
            f"{escape(op['summary'])}</h3>",
        ]
        if op.get("description"):
            out.append(f"<p>{_text(op['description'])}</p>")
        params = [*item.get("parameters", []), *op.get("parameters", [])]
        if params:
            out.append(self._parameters(params))
        if "requestBody" in op:
            out.append(self._request_body(op["requestBody"]))
        out.append(self._responses(op["responses"]))
        return "\n".join(out) + "</section>"

    def _parameters(self, params: list[dict[str, Any]]) -> str:
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}"
            f"{' (required)' if p.get('required') else ''}</td>"
            f"<td>{_type(p['schema'])}</td><td>{_text(p.get('description', ''))}</td></tr>"
            for p in params
        )
        return (
            "<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th>"
            f"<th>meaning</th></tr>{rows}</table>"
        )

    def _request_body(self, body: dict[str, Any]) -> str:
        media = body["content"]["application/json"]
        need = "required" if body.get("required") else "optional"
        return f"<h4>Request body</h4><p>JSON ({need}): {_type(media['schema'])}</p>"

    def _responses(self, responses: dict[str, Any]) -> str:
        rows = []
        for status, answer in responses.items():
            shared = ""
            if "$ref" in answer:
                name = answer["$ref"].rsplit("/", 1)[1]
                answer = self.doc["components"]["responses"][name]
                shared = f' <a href="#answer-{escape(name)}" class="muted">({escape(name)})</a>'
            ids = [] if shared else answer.get("x-anchors", [])
            rows.append(self._answer_row(status, answer, shared, ids))
        return (
            "<h4>Answers</h4><table><tr><th>status</th><th>meaning</th><th>body</th></tr>"
            + "".join(rows)
            + "</table>"
        )

    def _answer_row(self, label: str, answer: dict[str, Any], extra: str, ids: list[str]) -> str:
        """A row of an answers table; the row and empty marks in it carry `ids`."""
        row_id = self._id(ids[0]) if ids else ""
        marks = "".join(f"<span{self._id(a)}></span>" for a in ids[1:])
        body = "none"
        for media, content in answer.get("content", {}).items():
            body = f"<code>{escape(media)}</code>: {_type(content['schema'])}"
        headers = "".join(
            f"<br>header <code>{escape(name)}</code>: {_text(h.get('description', ''))}"
            for name, h in answer.get("headers", {}).items()
        )
        kind = f"s{label[0]}xx" if label[0] in "2345" else ""
        return (
            f'<tr{row_id}><td>{marks}<span class="status {kind}">{escape(label)}</span></td>'
            f"<td>{_text(answer['description'])}{extra}{headers}</td><td>{body}</td></tr>"
        )

    def _shared_answers(self) -> str:
        responses = self.doc["components"].get("responses", {})
        rows = "".join(
            self._answer_row(name, answer, "", [f"answer-{name}", *answer.get("x-anchors", [])])
            for name, answer in responses.items()
        )
        return (
            f"<h2{self._id('answers')}>Shared answers</h2><p>Answers several operations "
            "give, and those any path can give (404 no route, 405 wrong method, 500).</p>"
            f"<table><tr><th>name</th><th>meaning</th><th>body</th></tr>{rows}</table>"
        )

    def _schemas(self) -> str:
        parts = [f"<h2{self._id('schemas')}>Schemas</h2>"]
        for name, schema in self.doc["components"]["schemas"].items():
            parts.append(
                f"<section{self._id('schema-' + name)}><h3><code>{escape(name)}</code></h3>"
            )
            if schema.get("description"):
                parts.append(f"<p>{_text(schema['description'])}</p>")
            if "properties" in schema:
                parts.append(_properties(schema))
            else:
                parts.append(f"<p>{_type(schema)}</p>")
            parts.append("</section>")
        return "\n".join(parts)


def _properties(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code>{'' if name in required else '?'}</td>"
        f"<td>{_type(prop)}</td><td>{_text(prop.get('description', ''))}</td></tr>"
        for name, prop in schema["properties"].items()
    )
    closed = " Unknown fields are refused." if schema.get("additionalProperties") is False else ""
    return (
        f'<p class="muted">Fields marked ? may be left out.{closed}</p>'
        f"<table><tr><th>field</th><th>type</th><th>meaning</th></tr>{rows}</table>"
    )


def _type(schema: dict[str, Any]) -> str:
    """A schema as a short phrase: `integer, 0 to 3, default 1`; `array of Job`."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_type(s) for s in schema[key])
    kind = schema.get("type")
    if kind == "array":
        text = f"array of {_type(schema.get('items', {}))}"
    elif isinstance(kind, list):
        text = " or ".join(escape(k) for k in kind)
    elif "const" in schema:
        text = f"<code>{escape(repr(schema['const']))}</code>"
    elif kind is None:
        text = "any JSON"
    else:
        text = escape(kind)
    limits = _limits(schema)
    return f"{text}, {limits}" if limits else text


def _limits(schema: dict[str, Any]) -> str:
    said = []
    if "enum" in schema:
        said.append("one of " + ", ".join(f"<code>{escape(str(v))}</code>" for v in schema["enum"]))
    low = schema.get("minimum")
    if "exclusiveMinimum" in schema:
        said.append(f"&gt; {schema['exclusiveMinimum']}")
    elif low is not None:
        said.append(f"&ge; {low}")
    if "maximum" in schema:
        said.append(f"&le; {schema['maximum']}")
    if "x-capped-by" in schema:
        said.append(f"cut to the <code>{escape(schema['x-capped-by'])}</code> setting")
    for key, word in (
        ("minLength", "length &ge;"),
        ("maxLength", "length &le;"),
        ("minItems", "items &ge;"),
        ("maxItems", "items &le;"),
    ):
        if key in schema:
            said.append(f"{word} {schema[key]}")
    if "format" in schema:
        said.append(escape(schema["format"]))
    if "default" in schema:
        said.append(f"default <code>{escape(str(schema['default']))}</code>")
    return ", ".join(said)


_LINK = re.compile(r"\[([^\]]+)\]\((/docs)?(#[\w-]+)\)")


def _text(text: str) -> str:
    """Plain text, escaped, with the document's `[x](/docs#x)` links made links on this page."""
    return _LINK.sub(r'<a href="\3">\1</a>', escape(text, quote=False))
