"""The warm pool's round (``Pool.keep``) against a hub whose answers interleave as a busy one's can.

The pool's service and a server's move into the pool (``Pool.prepare``, in a thread of its
own) talk to the hub at the same time.  test_warm_pool.py and test_docker_bundle.py run the
real hubs, where an interleaving happens now and then (a second server started, two
containers where the pool should hold one); here a hub's REST API kept in memory answers in
the order each test forces, so the order that went wrong is tried on every run.
"""

from __future__ import annotations

import threading

from oersite.hub.pool import GROUPS, READY_GROUP, STARTING_GROUP, Pool


class HubInMemory:
    """JupyterHub's answers to the calls the pool makes: users, groups, servers (all up)."""

    def __init__(self) -> None:
        self.groups: dict[str, list[str]] = {group: [] for group in GROUPS}
        self.users: set[str] = set()
        self.created: list[str] = []
        self.before_group_read = lambda number: None  # the test's hook: called before each group read
        self.after_group_read = lambda number: None
        self.before_move = lambda number: None  # ... and before and after each change of a group's members
        self.after_move = lambda number: None
        self.group_reads = 0
        self.moves = 0
        self.marked_active: list[str] = []

    def call(self, method: str, path: str, body: dict | None = None, **_options):
        parts = path.strip("/").split("/")
        if parts[0] == "groups" and method == "GET":
            self.group_reads += 1
            number = self.group_reads
            self.before_group_read(number)
            answer = {"users": list(self.groups[parts[1]]), "properties": {}}
            self.after_group_read(number)
            return 200, answer
        if parts[0] == "groups":
            self.moves += 1
            self.before_move(self.moves)
            members = self.groups[parts[1]]
            for name in body["users"]:
                if method == "POST" and name not in members:
                    members.append(name)
                if method == "DELETE" and name in members:
                    members.remove(name)
            self.after_move(self.moves)
            return 200, {}
        name = parts[1]
        if method == "POST" and parts[2:] == ["activity"]:
            self.marked_active.append(name)
            return 200, {}
        if method == "POST" and len(parts) == 2:
            self.users.add(name)
            self.created.append(name)
            return 201, {}
        if method == "GET" and len(parts) == 2:
            if name not in self.users:
                return 404, {}
            groups = [group for group, members in self.groups.items() if name in members]
            return 200, {"name": name, "groups": groups, "servers": {"": {"ready": True}}}
        if method == "DELETE" and len(parts) == 2:
            self.users.discard(name)
        return 204, {}


def pool_of(hub: HubInMemory, size: int) -> tuple[Pool, list[tuple[str, str]]]:
    """A pool on ``hub`` whose background work (starts, removals) is only noted, not run."""
    pool = Pool(hub, size=size, pull_query="", proxy="http://127.0.0.1:1", max_wait=900)
    noted: list[tuple[str, str]] = []
    pool.in_background = lambda name, work: noted.append((work.__name__, name))
    return pool, noted


def test_a_server_moving_into_the_pool_while_a_round_reads_the_groups_is_counted_and_none_more_starts():
    """prepare's first change lands between the round's two group reads, its second after them."""
    hub = HubInMemory()
    hub.users.add("pool-a")
    hub.groups[STARTING_GROUP].append("pool-a")
    pool, noted = pool_of(hub, size=1)
    first_read, first_move, second_read = threading.Event(), threading.Event(), threading.Event()

    def before_move(number: int) -> None:
        assert (first_read if number == 1 else second_read).wait(10)

    def after_move(number: int) -> None:
        if number == 1:
            first_move.set()

    def before_group_read(number: int) -> None:
        if number == 2:
            assert first_move.wait(10)

    def after_group_read(number: int) -> None:
        (first_read if number == 1 else second_read).set()

    hub.before_move, hub.after_move = before_move, after_move
    hub.before_group_read, hub.after_group_read = before_group_read, after_group_read
    pool.busy.add("pool-a")  # as in_background marks it while prepare runs
    moving = threading.Thread(target=pool.prepare, args=("pool-a",))
    moving.start()
    pool.keep()
    moving.join(10)
    assert not moving.is_alive()
    assert hub.created == [], f"a second server was started: {hub.created}"
    assert not [work for work, _name in noted if work == "spawn"]
    assert hub.groups[READY_GROUP] == ["pool-a"] and hub.groups[STARTING_GROUP] == []


def test_a_server_that_joined_the_pool_while_prepare_still_runs_is_counted_and_none_more_starts():
    """prepare() has moved it (READY, out of STARTING) but its thread has not ended: a place taken, not one to fill."""
    hub = HubInMemory()
    hub.users.add("pool-a")
    hub.groups[READY_GROUP].append("pool-a")
    pool, noted = pool_of(hub, size=1)
    pool.busy.add("pool-a")  # in_background clears it only once prepare returns
    status = pool.keep()
    assert hub.created == [] and not [work for work, _name in noted if work == "spawn"]
    assert status["ready"] == 0  # not yet one a visitor is counted on, by the status
