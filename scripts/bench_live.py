"""The live updates' figures (issue 18), for `scripts/bench --live` (and the whole bench):
1,000 open subscriptions on one server, driven by the Rust client of examples/live_load.rs
(so that the client is not what is measured): the server's memory with them open against
none, how long a version takes to reach all of them (on the same server, and on PostgreSQL
across two servers), and the docs query's rate while they are open against without them,
all in the same run.
"""

import json
import os
import subprocess
import time

import bench

LOAD = os.path.join(bench.ROOT, "target/bench-examples/release/examples/live_load")
SUBSCRIPTIONS = 1000
EVENTS = 20
# An account holds at most 200 connections on one server (doors/graphql/ws.rs).
ACCOUNTS = 5


def version(token, project, model, n):
    query = ('mutation($input: CreateVersionInput!) { versionMutations { create(input: $input) { id } } }')
    variables = {"input": {"projectId": project, "modelId": model, "objectId": f"{n:032x}", "message": f"live {n}"}}
    status, body = bench.graphql_json(token, query, variables)
    answer = json.loads(body)
    assert status == 200 and "errors" not in answer, body
    return answer["data"]["versionMutations"]["create"]["id"]


def open_load(ws_port, name):
    """What opens the subscriptions on the server at `ws_port` for a project, for accounts of
    their own (made now, before anything is measured)."""
    tokens = [bench.create_token(bench.sign_up(f"{name}-{n}@example.com"), ["streams:read"]) for n in range(ACCOUNTS)]
    return lambda project: subprocess.Popen(
        [LOAD, f"ws://127.0.0.1:{ws_port}/graphql", project, str(SUBSCRIPTIONS), str(EVENTS), *tokens],
        stdout=subprocess.PIPE, text=True)


def send_and_collect(load, token, project, model):
    """Makes the versions (on the first server) once `load` is ready: every delivery's delay in
    ms, and how many were heard. Ends the load."""
    try:
        sent = {}
        for n in range(EVENTS):
            before = time.time() * 1000
            sent[version(token, project, model, n)] = before
            time.sleep(0.2)
        heard = json.loads(load.stdout.readline())
    finally:
        load.kill()
        load.wait()
    return [at - sent[id] for id, times in heard.items() if id in sent for at in times]


def started(load):
    line = load.stdout.readline().strip()
    assert line == "ready", f"the load did not start: {line!r}"
    return load


def run(label, database_url, scripts, two_servers=False):
    server = bench.start_server(database_url)
    other_port = bench.PORT + 2
    other = bench.start_server(database_url, port=other_port) if two_servers else None
    try:
        # Addresses of this run's own: the PostgreSQL database outlives a run.
        stamp = time.time_ns()
        cookie = bench.sign_up(f"live-{stamp}@example.com")
        token = bench.create_token(cookie, ["profile:read", "streams:read", "streams:write"])
        created = bench.graphql_json(token, 'mutation { projectMutations { create(input: { name: "Live", '
                                            'visibility: PUBLIC }) { id models { items { id } } } } }')
        project = json.loads(created[1])["data"]["projectMutations"]["create"]
        project_id, model_id = project["id"], project["models"]["items"][0]["id"]
        docs = {"TOKEN": token, "QUERY": bench.DOCS_QUERY}
        here_load = open_load(bench.PORT, f"here-{stamp}")
        bench.wrk("/graphql", scripts["bearer"], docs, seconds=2)
        alone = bench.wrk("/graphql", scripts["bearer"], docs)
        memory_before = bench.memory_mb(server.pid, "VmRSS")
        load = started(here_load(project_id))
        memory_open = bench.memory_mb(server.pid, "VmRSS")
        during = bench.wrk("/graphql", scripts["bearer"], docs)
        here = send_and_collect(load, token, project_id, model_id)
        across = None
        if other:
            there_load = open_load(other_port, f"there-{stamp}")
            across = send_and_collect(started(there_load(project_id)), token, project_id, model_id)
    finally:
        for process in (server, other):
            if process:
                process.terminate()
                process.wait()

    expected = SUBSCRIPTIONS * EVENTS
    print(f"\n### Live updates, {label}: {SUBSCRIPTIONS:,} subscriptions ({ACCOUNTS} accounts), "
          f"{EVENTS} versions\n")
    print("| | figure | goal |")
    print("| --- | ---: | --- |")
    print(f"| server memory (RSS), none open | {memory_before:.0f} MB | |")
    print(f"| server memory (RSS), {SUBSCRIPTIONS:,} open | {memory_open:.0f} MB "
          f"(+{memory_open - memory_before:.0f} MB) | ≤ +50 MB |")
    print(f"| a version reaches them, same server: p50 / p99 / max | {bench.percentile(here, 50):.0f} / "
          f"{bench.percentile(here, 99):.0f} / {max(here, default=float('nan')):.0f} ms "
          f"({len(here):,} of {expected:,} heard) | p99 ≤ 1,000 ms |")
    if across is not None:
        print(f"| a version reaches them, across two servers: p50 / p99 / max | "
              f"{bench.percentile(across, 50):.0f} / {bench.percentile(across, 99):.0f} / "
              f"{max(across, default=float('nan')):.0f} ms ({len(across):,} of {expected:,} heard) | p99 ≤ 1,000 ms |")
    print(f"| the docs query, requests/s: none open → {SUBSCRIPTIONS:,} open | {alone['rps']:,.0f} → "
          f"{during['rps']:,.0f} ({during['rps'] / alone['rps']:.2f}×) | unchanged |")
