"""The token store, and the auth service's cache over it, on every backend.

A token created or revoked through one store (one node) is seen by every
other store on the same database once it refreshes: that is what makes
revocation reach every node.
"""

from __future__ import annotations

import asyncio

import pytest

from accepted.errors import TokenExists, TokenNotFound, Unauthorized
from accepted.service.auth import AuthService, NewToken
from accepted.store import JobStore, open_store
from accepted.tokens import Role, Token, hash_secret
from tests.contract.builders import NOW, make_job
from tests.contract.conftest import OpenStore


def token(name: str = "t", role: Role = Role.WORKER, **fields: object) -> Token:
    values: dict[str, object] = {
        "name": name, "role": role, "queues": None, "created_at": NOW,
        "expires_at": None, "hash": hash_secret("secret-" + name),
    }
    values.update(fields)
    return Token(**values)  # type: ignore[arg-type]


async def test_tokens_are_stored_listed_and_deleted(store: JobStore) -> None:
    limited = token("limited", Role.PRODUCER, queues=("emails", "reports.*"), expires_at=NOW + 60)
    await store.tokens.insert_token(token("plain"))
    await store.tokens.insert_token(limited)
    _, tokens = await store.tokens.load_tokens()
    assert sorted(tokens, key=lambda t: t.name) == [limited, token("plain")]
    assert await store.tokens.delete_token("limited") == limited
    assert (await store.tokens.load_tokens())[1] == [token("plain")]
    with pytest.raises(TokenNotFound):
        await store.tokens.delete_token("limited")


async def test_a_name_or_secret_is_taken_once(store: JobStore) -> None:
    await store.tokens.insert_token(token("a"))
    with pytest.raises(TokenExists):
        await store.tokens.insert_token(token("a", hash=hash_secret("other")))
    with pytest.raises(TokenExists):
        await store.tokens.insert_token(token("b", hash=token("a").hash))
    assert [t.name for t in (await store.tokens.load_tokens())[1]] == ["a"]


async def test_replace_overwrites_the_token_of_that_name(store: JobStore) -> None:
    await store.tokens.insert_token(token("admin", Role.READER))
    await store.tokens.insert_token(token("admin", Role.ADMIN, hash="h2"), replace=True)
    assert (await store.tokens.load_tokens())[1] == [token("admin", Role.ADMIN, hash="h2")]


async def test_nodes_starting_together_each_install_the_same_admin_token(
    open_new_store: OpenStore, is_shared: bool
) -> None:
    """Nodes started at once with one ACCEPTED_ADMIN_TOKEN all replace `admin`.

    Each replace is a delete then an insert; two running side by side both
    found no row to delete, and the later insert failed on the name, so a node
    refused to start ("a token named 'admin' exists").
    """
    stores = [await open_new_store() for _ in range(2 if is_shared else 1)]
    admin = token("admin", Role.ADMIN)
    await asyncio.gather(
        *(stores[i % len(stores)].tokens.insert_token(admin, replace=True) for i in range(8))
    )
    assert (await stores[0].tokens.load_tokens())[1] == [admin]


async def test_every_change_moves_the_version_and_reads_do_not(store: JobStore) -> None:
    start = await store.tokens.token_version()
    await store.tokens.insert_token(token("a"))
    after_insert = await store.tokens.token_version()
    assert after_insert != start
    assert (await store.tokens.load_tokens())[0] == after_insert
    with pytest.raises(TokenExists):
        await store.tokens.insert_token(token("a"))
    assert await store.tokens.token_version() == after_insert  # a refused change is no change
    await store.tokens.delete_token("a")
    assert await store.tokens.token_version() not in (start, after_insert)


async def test_a_revocation_on_one_node_reaches_the_other_at_its_refresh(
    store: JobStore, target: str
) -> None:
    # Another node on PostgreSQL; on SQLite, `accepted token ... --db` beside the server.
    other = open_store(target, pool_size=2, exclusive=False)
    await other.open()
    try:
        await _revocation_crosses(AuthService(other.tokens), AuthService(store.tokens))
    finally:
        await other.close()


async def _revocation_crosses(here: AuthService, there: AuthService) -> None:
    await here.reload()
    await there.reload()
    made, secret = await here.create(NewToken("w", Role.WORKER), NOW)
    # Unknown to `there`'s cache: the miss makes it check the version, so it works at once.
    assert (await there.authenticate(f"Bearer {secret}", NOW)).name == "w"
    await here.revoke("w")
    await there.refresh()
    with pytest.raises(Unauthorized):
        await there.authenticate(f"Bearer {secret}", NOW)
    assert made.hash == hash_secret(secret)


async def test_an_expired_token_is_refused(store: JobStore) -> None:
    auth = AuthService(store.tokens)
    await auth.reload()
    _, secret = await auth.create(NewToken("short", Role.READER, expires_in=10), NOW)
    assert (await auth.authenticate(f"Bearer {secret}", NOW + 9)).role is Role.READER
    with pytest.raises(Unauthorized, match="expired"):
        await auth.authenticate(f"Bearer {secret}", NOW + 10)


async def test_claim_with_prefixes_takes_only_matching_queues(store: JobStore) -> None:
    jobs = [make_job(queue=q) for q in ("reports.daily", "reportsX", "emails", "other")]
    await store.insert_jobs(jobs)
    claimed = await store.claim_jobs(["emails"], 10, NOW, ["t"] * 10, NOW + 30,
                                     prefixes=["reports."])
    assert sorted(j.queue for j in claimed) == ["emails", "reports.daily"]
    claimed = await store.claim_jobs([], 10, NOW, ["t"] * 10, NOW + 30, prefixes=["report"])
    assert [j.queue for j in claimed] == ["reportsX"]
    # A job both a name and a prefix match is claimed once.
    both = make_job(queue="reports.x")
    await store.insert_jobs([both])
    claimed = await store.claim_jobs(["reports.x"], 10, NOW, ["a", "b"], NOW + 30,
                                     prefixes=["reports."])
    assert [j.id for j in claimed] == [both.id]
