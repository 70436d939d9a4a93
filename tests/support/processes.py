"""Which process of a several-process server (`accepted serve --workers N`) holds a connection.

The kernel gives each new connection to whichever child accepts it first, so a
test that needs "a taker in one process, the enqueue in another" opens
connections until it has one on each, and asks Linux which process holds the
server end of each: the socket's inode in /proc/net/tcp, and which child has
that inode among its open files.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.support.servers import ServerProcess


def children(server: ServerProcess) -> list[int]:
    """The server's child processes (its parent's children), by pid."""
    assert server.proc is not None
    pid = server.proc.pid
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def serving_process(server: ServerProcess, client: httpx.Client) -> int:
    """The pid of the child that holds `client`'s (one, kept-alive) connection."""
    response = client.get("/healthz")  # opens or reuses the connection; the child accepted it
    sock = response.extensions["network_stream"].get_extra_info("socket")
    pid = holder(server, sock.getsockname()[1])
    assert pid is not None, f"no child of {server.proc} holds the connection"
    return pid


def holder(server: ServerProcess, client_port: int) -> int | None:
    """The pid of the child that holds the connection from `client_port`, once accepted."""
    inode = _server_end(server.port, client_port)
    for pid in children(server):
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if f"socket:[{inode}]" in links:
            return pid
    return None


def one_client_per_process(server: ServerProcess, tries: int = 200) -> dict[int, httpx.Client]:
    """A kept-alive client on each child (pid -> client); the caller closes them.

    A child that is still starting accepts no connection yet: the tries go on
    until it serves.
    """
    wanted = set(children(server))
    found: dict[int, httpx.Client] = {}
    for _ in range(tries):
        client = httpx.Client(base_url=server.url, timeout=60.0)
        pid = serving_process(server, client)
        if pid in found:
            client.close()
        else:
            found[pid] = client
        if set(found) == wanted:
            return found
    for client in found.values():
        client.close()
    raise AssertionError(f"{tries} connections did not reach every child of {wanted}")


def _server_end(server_port: int, client_port: int) -> str:
    """The inode of the server's socket of the loopback connection from `client_port`."""
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return fields[9]
    raise AssertionError(f"no connection from port {client_port} to {server_port}")
