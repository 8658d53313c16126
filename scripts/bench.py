"""Drives the release server with wrk and prints the figures of issue 5 as a table, then
measures the object transport (issue 8): sending and receiving 100,000 objects, against the
database's own raw INSERT and SELECT of the same rows, and the server's memory while one
client sends 200 MB.

Everything compared is measured in the same run, against the same database.
"""

import gzip
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("BENCH_BINARY") or os.path.join(ROOT, "target/release/speckle-tokens")
BASELINE = os.path.join(ROOT, "target/bench-examples/release/examples/objects_baseline")
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = 64
PORT = 3300
BASE = f"http://127.0.0.1:{PORT}"
DOCS_QUERY = "{ user { id suuid streams { totalCount } } }"
PASSWORD = "correct horse battery staple"


def start_server(database_url, port=PORT, binary=None, **settings):
    env = dict(os.environ, DATABASE_URL=database_url, LEPTOS_SITE_ADDR=f"127.0.0.1:{port}",
               LEPTOS_SITE_ROOT=os.path.join(ROOT, "target/site"), LEPTOS_ENV="PROD", RUST_LOG="warn",
               MAX_FAILED_SIGN_INS="1000000000", **settings)
    server = subprocess.Popen([binary or BINARY], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the server did not start")


def post_form(path, fields, cookie=None):
    data = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(f"{BASE}{path}", data=data, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("Origin", BASE)
    if cookie:
        request.add_header("Cookie", cookie)
    with urllib.request.urlopen(request) as response:
        # The session's cookie (a sign-in also sets the device cookie).
        session = [c.split(";")[0] for c in response.headers.get_all("Set-Cookie") or [] if c.startswith("session")]
        return json.loads(response.read() or b"null"), session[0] if session else cookie


def sign_up(email):
    _, cookie = post_form("/api/signup", {"name": "Bench", "email": email, "password": PASSWORD})
    return cookie


def create_token(cookie, scopes, name="bench", expiration="never"):
    fields = {"name": name, "expiration": expiration}
    fields.update({f"scopes[{i}]": scope for i, scope in enumerate(scopes)})
    token, _ = post_form("/api/create_token", fields, cookie)
    return token["secret"]


def create_limited_token(cookie, scopes, stream_ids, name="limited"):
    """A token of the New token dialog's `Only selected streams`, reading these streams."""
    fields = {"name": name, "expiration": "never", "reach": "selected"}
    fields.update({f"scopes[{i}]": scope for i, scope in enumerate(scopes)})
    fields.update({f"streams[{i}]": stream for i, stream in enumerate(stream_ids)})
    fields.update({f"levels[{i}]": f"{stream}:read" for i, stream in enumerate(stream_ids)})
    token, _ = post_form("/api/create_token", fields, cookie)
    return token["secret"]


def lua_script(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def to_ms(value):
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(path, script=None, env=None, seconds=SECONDS, connections=CONNECTIONS, base=BASE):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", script]
    output = subprocess.run(command + [f"{base}{path}"], capture_output=True, text=True,
                            env=dict(os.environ, **(env or {}))).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}
    for percentile in ("50", "99"):
        figures[f"p{percentile}"] = to_ms(re.search(rf"\s{percentile}%\s+(\S+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    figures["errors"] = int(errors.group(1)) if errors else 0
    if socket_errors:
        figures["errors"] += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    figures["total"] = int(re.search(r"(\d+) requests in", output).group(1))
    return figures


class Sql:
    """Runs SQL on the server's database from outside (seeding, counting)."""

    def __init__(self, database_url):
        self.url = database_url

    def run(self, sql):
        if self.url.startswith("sqlite://"):
            command = ["sqlite3", self.url[len("sqlite://"):]]
        else:
            command = ["psql", "-qtA", self.url]
        return subprocess.run(command, input=sql, capture_output=True, text=True, check=True).stdout.strip()

    def fill_tokens(self, total):
        """Adds filler tokens (random digests) for a throwaway user until the table holds `total`."""
        have = int(self.run("SELECT count(*) FROM api_tokens;"))
        missing = total - have
        if missing <= 0:
            return
        if self.url.startswith("sqlite://"):
            self.run(f"""
                INSERT OR IGNORE INTO users VALUES ('filler', 'filler', 'Filler', 'filler@bench', 'x', NULL, NULL, NULL, 0);
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {missing})
                INSERT INTO api_tokens (id, user_id, name, token_digest, last_chars, scopes, created_at)
                SELECT lower(hex(randomblob(8))), 'filler', 'filler', randomblob(32), 'xxxx', 'profile:read', i FROM n;""")
            # Seeding is set-up: fold its write-ahead log into the file now, not during a run.
            self.run("PRAGMA wal_checkpoint(TRUNCATE);")
        else:
            self.run(f"""
                INSERT INTO users VALUES ('filler', 'filler', 'Filler', 'filler@bench', 'x', NULL, NULL, NULL, 0)
                ON CONFLICT DO NOTHING;
                INSERT INTO api_tokens (id, user_id, name, token_digest, last_chars, scopes, created_at)
                SELECT md5(random()::text || i), 'filler', 'filler', sha256((random()::text || i)::bytea), 'xxxx',
                       'profile:read', i FROM generate_series(1, {missing}) AS i;""")
            # Seeding is set-up: vacuum the new rows now, not in autovacuum during a later run.
            self.run("VACUUM (ANALYZE) api_tokens;")

    def count_last_used_writes(self):
        """Installs a trigger that counts writes of api_tokens.last_used_at."""
        if self.url.startswith("sqlite://"):
            self.run("""CREATE TABLE bench_writes (n INTEGER);
                CREATE TRIGGER bench_count AFTER UPDATE OF last_used_at ON api_tokens
                BEGIN INSERT INTO bench_writes VALUES (1); END;""")
        else:
            self.run("""CREATE TABLE bench_writes (n INTEGER);
                CREATE FUNCTION bench_count() RETURNS trigger AS $$
                BEGIN INSERT INTO bench_writes VALUES (1); RETURN NEW; END; $$ LANGUAGE plpgsql;
                CREATE TRIGGER bench_count AFTER UPDATE OF last_used_at ON api_tokens
                FOR EACH ROW EXECUTE FUNCTION bench_count();""")

    def writes(self):
        return int(self.run("SELECT count(*) FROM bench_writes;"))


def memory_mb(pid, field="VmHWM"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench(label, database_url, scripts):
    server = start_server(database_url)
    # A second server on the same database with its read cache off: the token lookup itself.
    uncached_port = PORT + 1
    uncached = start_server(database_url, port=uncached_port, READ_CACHE_ENTRIES="0")
    uncached_base = f"http://127.0.0.1:{uncached_port}"
    sql = Sql(database_url)

    class Rows(list):
        def append(self, row):
            super().append(row)
            peaks.append(memory_mb(server.pid))
    peaks = []
    rows = Rows()
    try:
        cookie = sign_up("bench@example.com")
        token = create_token(cookie, ["profile:read", "streams:read"])
        docs = {"TOKEN": token, "QUERY": DOCS_QUERY}
        # 100 streams, and a token limited to all of them (SPEC §12): the same count, read
        # through the token's streams.
        writer = create_token(cookie, ["streams:write"], "writer")
        stream_ids = []
        for n in range(100):
            _, answer = graphql_json(writer, f'mutation {{ streamCreate(stream: {{ name: "s{n}" }}) }}')
            stream_ids.append(json.loads(answer)["data"]["streamCreate"])
        limited = create_limited_token(cookie, ["profile:read", "streams:read"], stream_ids)

        health = wrk("/healthz")
        server_info = wrk("/graphql", scripts["anonymous"], {"QUERY": "{ serverInfo { name } }"})
        docs_small = wrk("/graphql", scripts["bearer"], docs)
        docs_limited = wrk("/graphql", scripts["bearer"], {"TOKEN": limited, "QUERY": DOCS_QUERY})
        rows.append(("GET /healthz", health, ""))
        rows.append(("anonymous { serverInfo { name } }", server_info,
                     f"{server_info['rps'] / health['rps']:.2f}× healthz"))
        rows.append(("docs query, valid token", docs_small,
                     f"{docs_small['rps'] / server_info['rps']:.2f}× serverInfo (goal ≥ {'0.9' if 'SQLite' in label else '0.7'})"))
        rows.append(("docs query, token limited to 100 streams", docs_limited,
                     f"{docs_limited['rps'] / docs_small['rps']:.2f}× the unlimited token (goal ≥ 0.95)"))

        sql.fill_tokens(1_000)
        docs_1k = wrk("/graphql", scripts["bearer"], docs)
        lookup_1k = wrk("/graphql", scripts["bearer"], docs, base=uncached_base)
        sql.fill_tokens(1_000_000)
        docs_1m = wrk("/graphql", scripts["bearer"], docs)
        lookup_1m = wrk("/graphql", scripts["bearer"], docs, base=uncached_base)
        rows.append(("docs query, 1,000 tokens in table", docs_1k, ""))
        rows.append(("docs query, 1,000,000 tokens in table", docs_1m,
                     f"{docs_1m['rps'] / docs_1k['rps']:.2f}× the 1,000 run (goal ≥ 0.9)"))
        rows.append(("same, read cache off, 1,000 tokens", lookup_1k,
                     f"{lookup_1k['rps'] / server_info['rps']:.2f}× serverInfo"))
        rows.append(("same, read cache off, 1,000,000 tokens", lookup_1m,
                     f"{lookup_1m['rps'] / lookup_1k['rps']:.2f}× the 1,000 run (goal ≥ 0.9)"))

        sql.count_last_used_writes()
        busy = create_token(cookie, ["profile:read", "streams:read"], "busy")
        busy_run = wrk("/graphql", scripts["bearer"], {"TOKEN": busy, "QUERY": DOCS_QUERY}, seconds=30)
        rows.append(("one busy token for 30 s", busy_run,
                     f"{sql.writes()} last-used writes for {busy_run['total']} requests (goal ≤ 1/min)"))

        hundred = sign_up("hundred@example.com")
        for i in range(100):
            create_token(hundred, ["profile:read"], f"token {i}")
        profile = wrk("/profile", scripts["page"], {"COOKIE": hundred})
        rows.append(("GET /profile, 100 tokens (SSR)", profile, "pages/s"))

        creators = [sign_up(f"creator{i}@example.com") for i in range(40)]
        creation = wrk("/api/create_token", scripts["create"], {"COOKIES": "\n".join(creators), "ORIGIN": BASE},
                       seconds=min(SECONDS, 5), connections=8)
        rows.append(("token creation (web flow)", creation, "tokens/s"))

        storm_result = {}
        storm = threading.Thread(target=lambda: storm_result.update(
            wrk("/api/login", scripts["login"], {"ORIGIN": BASE, "EMAIL": "bench@example.com",
                                                 "PASSWORD": PASSWORD}, connections=8)))
        storm.start()
        docs_storm = wrk("/graphql", scripts["bearer"], docs)
        storm.join()
        rows.append(("sign-in storm (argon2), 8 connections", storm_result, "sign-ins/s"))
        rows.append(("docs query during the storm", docs_storm,
                     f"p99 {docs_storm['p99'] / docs_small['p99']:.2f}× without (goal ≤ 2)"))
        rss = memory_mb(server.pid)
    finally:
        for process in (server, uncached):
            process.terminate()
            process.wait()

    print(f"\n### {label}\n")
    print("| measurement | requests/s | p50 ms | p99 ms | errors | peak RSS so far | ratio / note |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for (name, figures, note), peak in zip(rows, peaks):
        print(f"| {name} | {figures['rps']:,.0f} | {figures['p50']:.2f} | {figures['p99']:.2f} | "
              f"{figures['errors']} | {peak:.0f} MB | {note} |")
    print(f"| peak memory (RSS) of the server | | | | | {rss:.0f} MB | goal ≤ 150 MB |")


# ---- what a first visit downloads (issue 21) ----

def on_the_wire(path, cookie=None):
    """Bytes on the wire of one GET as a browser asks it (brotli or gzip), and its body."""
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    headers = {"Accept-Encoding": "br, gzip", "Accept": "text/html,*/*"}
    if cookie:
        headers["Cookie"] = cookie
    connection.request("GET", path, headers=headers)
    answer = connection.getresponse()
    body = answer.read()
    connection.close()
    assert answer.status == 200, (path, answer.status)
    encoding = answer.getheader("Content-Encoding") or "identity"
    return len(body), body, encoding


def page_weight(label, database_url):
    """A first visit of /login and of /profile: the page and everything it names under /pkg/
    (the WASM, its JS, the CSS), as compressed as the server sends them."""
    server = start_server(database_url)
    rows = []
    try:
        cookie = sign_up(f"weight-{time.time_ns()}@example.com")
        for path, who in (("/login", None), ("/profile", cookie)):
            wire, body, encoding = on_the_wire(path, who)
            if encoding == "gzip":
                html = gzip.decompress(body)
            else:
                assert encoding == "identity", f"{path}: a page sent as {encoding}"
                html = body
            total, parts = wire, [f"page {wire / 1000:.0f} kB ({encoding})"]
            for asset in sorted(set(re.findall(rb'"(/pkg/[^"?#]+)"', html))):
                size, _, asset_encoding = on_the_wire(asset.decode())
                total += size
                parts.append(f"{asset.decode().rsplit('.', 1)[-1]} {size / 1000:.0f} kB ({asset_encoding})")
            rows.append((path, total, ", ".join(parts)))
    finally:
        server.terminate()
        server.wait()
    pkg = os.path.join(ROOT, "target/site/pkg")
    wasm = [name for name in os.listdir(pkg) if name.endswith(".wasm")]
    assert len(wasm) == 1, wasm
    raw = os.path.getsize(os.path.join(pkg, wasm[0]))
    print(f"\n### {label}: what a first visit downloads\n")
    print("| page | kB on the wire | what | note |")
    print("| --- | ---: | --- | --- |")
    for path, total, parts in rows:
        print(f"| first load of {path} | {total / 1000:,.0f} | {parts} | goal ≤ 300 kB |")
    print(f"| the WASM before compression | {raw / 1000:,.0f} | {wasm[0]} | |")


# ---- the object transport ----

def leaf(i, padding=0):
    """A small object as specklepy sends it (a point), with `padding` extra bytes of values."""
    body = {"speckle_type": "Objects.Geometry.Point", "x": i * 0.5, "y": i % 977, "z": 1.25,
            "units": "m", "applicationId": None, "totalChildrenCount": 0}
    if padding:
        body["values"] = [round(i / 7 + k, 3) for k in range(padding // 8)]
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    body["id"] = hashlib.sha256(text.encode()).hexdigest()[:32]
    return json.dumps(body, separators=(",", ":"))


def model(count, padding=0):
    """`count` leaves in chunks of 1,000 (as specklepy chunks a long list) under a root whose
    closure names them all: (texts, root id), the root last."""
    leaves = [leaf(i, padding) for i in range(count)]
    ids = [json.loads(text)["id"] for text in leaves]
    chunks, closure = [], {}
    for start in range(0, count, 1000):
        part = ids[start:start + 1000]
        chunk = {"speckle_type": "Speckle.Core.Models.DataChunk", "totalChildrenCount": len(part),
                 "data": [{"referencedId": i, "speckle_type": "reference"} for i in part],
                 "__closure": {i: 1 for i in part}}
        chunk["id"] = hashlib.sha256(json.dumps(chunk, sort_keys=True).encode()).hexdigest()[:32]
        chunks.append(json.dumps(chunk, separators=(",", ":")))
        closure[chunk["id"]] = 1
        closure.update({i: 2 for i in part})
    root = {"speckle_type": "Base", "name": "bench", "totalChildrenCount": len(closure),
            "@points": [{"referencedId": json.loads(c)["id"], "speckle_type": "reference"} for c in chunks],
            "__closure": closure}
    root["id"] = hashlib.sha256(json.dumps(root, sort_keys=True).encode()).hexdigest()[:32]
    return leaves + chunks + [json.dumps(root, separators=(",", ":"))], root["id"]


def batches(texts, size=1_000_000):
    """The objects cut into JSON arrays of about `size` bytes, as specklepy's sender does."""
    out, current, length = [], [], 0
    for text in texts:
        if current and length + len(text) > size:
            out.append(current)
            current, length = [], 0
        current.append(text)
        length += len(text)
    out.append(current)
    return out


def prepared(texts):
    """Each batch's ids (for the diff) and gzipped body (for the upload), made before timing."""
    boundary = "bench-boundary"
    requests = []
    for batch in batches(texts):
        ids = [json.loads(text)["id"] for text in batch]
        gz = gzip.compress(("[" + ",".join(batch) + "]").encode(), compresslevel=1)
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"batch-1\"; filename=\"batch-1\"\r\n"
                f"Content-Type: application/gzip\r\n\r\n").encode() + gz + f"\r\n--{boundary}--\r\n".encode()
        diff = urllib.parse.urlencode({"objects": json.dumps(ids)}).encode()
        requests.append((diff, body, f"multipart/form-data; boundary={boundary}"))
    return requests


def send(stream, token, requests, threads=4):
    """Sends prepared batches from `threads` connections (specklepy uses 4); seconds taken."""
    queue = list(requests)
    lock = threading.Lock()
    failures = []

    def worker():
        connection = http.client.HTTPConnection("127.0.0.1", PORT)
        while True:
            with lock:
                if not queue:
                    return
                diff, body, content_type = queue.pop()
            auth = {"Authorization": f"Bearer {token}"}
            connection.request("POST", f"/api/diff/{stream}", diff,
                               dict(auth, **{"Content-Type": "application/x-www-form-urlencoded"}))
            answer = connection.getresponse()
            answer.read()
            connection.request("POST", f"/objects/{stream}", body, dict(auth, **{"Content-Type": content_type}))
            answer = connection.getresponse()
            answer.read()
            if answer.status != 201:
                failures.append(answer.status)

    started = time.perf_counter()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for worker_thread in workers:
        worker_thread.start()
    for worker_thread in workers:
        worker_thread.join()
    if failures:
        raise SystemExit(f"uploads failed: {failures[:5]}")
    return time.perf_counter() - started


def receive(stream, token, root, encoding):
    """Downloads the root and its closure as lines (what Speckle's clients ask for); answers
    (seconds, bytes on the wire, lines)."""
    connection = http.client.HTTPConnection("127.0.0.1", PORT)
    started = time.perf_counter()
    connection.request("GET", f"/objects/{stream}/{root}",
                       headers={"Authorization": f"Bearer {token}", "Accept": "text/plain", "Accept-Encoding": encoding})
    answer = connection.getresponse()
    body = answer.read()
    seconds = time.perf_counter() - started
    lines = (gzip.decompress(body) if answer.getheader("Content-Encoding") == "gzip" else body).count(b"\n")
    return seconds, len(body), lines


def bench_objects(label, database_url, work):
    server = start_server(database_url)
    try:
        cookie = sign_up(f"objects-{time.time_ns()}@example.com")
        token = create_token(cookie, ["streams:read", "streams:write"])
        texts, root = model(100_000)
        mb = sum(len(t) for t in texts) / 1e6
        path = os.path.join(work, "objects.jsonl")
        with open(path, "w") as f:
            f.write("\n".join(texts))
        baseline_url = f"sqlite://{work}/baseline.db" if database_url.startswith("sqlite") else database_url
        baseline = json.loads(subprocess.run([BASELINE, baseline_url, path], capture_output=True, text=True,
                                             check=True).stdout)

        def stream(name):
            query = 'mutation($s: StreamCreateInput!) { streamCreate(stream: $s) }'
            body = json.dumps({"query": query, "variables": {"s": {"name": name}}}).encode()
            request = urllib.request.Request(f"{BASE}/graphql", data=body, method="POST", headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request) as answer:
                return json.loads(answer.read())["data"]["streamCreate"]

        target = stream("bench objects")
        ingest = send(target, token, prepared(texts))
        # The fastest of three, as the baseline counts its SELECT: this machine is shared.
        identity = min(receive(target, token, root, "identity") for _ in range(3))
        compressed = min(receive(target, token, root, "gzip") for _ in range(3))
        for seconds, _, lines in (identity, compressed):
            assert lines == len(texts), (lines, len(texts))

        big_texts, _ = model(200_000, padding=1000)
        big_mb = sum(len(t) for t in big_texts) / 1e6
        big = prepared(big_texts)
        del big_texts
        big_seconds = send(stream("bench 200 MB"), token, big)
        rss = memory_mb(server.pid)
    finally:
        server.terminate()
        server.wait()

    n = len(texts)
    insert_rate, select_rate = n / baseline["insert_seconds"], n / baseline["select_seconds"]
    print(f"\n### {label}: the object transport ({n:,} objects, {mb:.1f} MB of JSON)\n")
    print("| measurement | objects/s | MB/s | seconds | ratio / note |")
    print("| --- | ---: | ---: | ---: | --- |")
    print(f"| raw batched INSERT (driver only) | {insert_rate:,.0f} | {mb / baseline['insert_seconds']:.1f} | "
          f"{baseline['insert_seconds']:.2f} | baseline |")
    print(f"| send: diff + gzipped multipart, 4 connections | {n / ingest:,.0f} | {mb / ingest:.1f} | {ingest:.2f} | "
          f"{(n / ingest) / insert_rate:.2f}× raw INSERT (goal ≥ 0.5) |")
    print(f"| raw SELECT of the same rows (driver only, fastest of 3) | {select_rate:,.0f} | {mb / baseline['select_seconds']:.1f} | "
          f"{baseline['select_seconds']:.2f} | baseline |")
    for name, (seconds, wire, _) in (("receive the closure as lines, uncompressed (fastest of 3)", identity),
                                      ("receive the closure as lines, gzip (fastest of 3)", compressed)):
        print(f"| {name} | {n / seconds:,.0f} | {mb / seconds:.1f} | {seconds:.2f} | "
              f"{(n / seconds) / select_rate:.2f}× raw SELECT (goal ≥ {'0.5' if 'SQLite' in label else '0.7'}); "
              f"{wire / 1e6:.1f} MB on the wire |")
    print(f"| send {big_mb:.0f} MB ({len(big)} batches, 4 connections) | {200_000 / big_seconds:,.0f} | "
          f"{big_mb / big_seconds:.1f} | {big_seconds:.2f} | peak RSS of the server {rss:.0f} MB (goal ≤ 150 MB) |")


# ---- hostile load (issue 9) ----

def graphql_json(token, query, variables=None):
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{BASE}/graphql", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else float("nan")


def sign_in_flood(seconds, attackers=32):
    """`attackers` clients post failed sign-ins with fresh emails from one address (through a
    trusted proxy's X-Forwarded-For) while a real user signs in from another every 0.2 s.
    Answers (the real user's latencies in ms and statuses, the flood's statuses)."""
    stop = time.monotonic() + seconds
    flood, real, latencies = {}, {}, []
    lock = threading.Lock()

    def post(fields, address):
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        connection.request("POST", "/api/login", urllib.parse.urlencode(fields),
                           {"Content-Type": "application/x-www-form-urlencoded", "Origin": BASE,
                            "X-Forwarded-For": address})
        answer = connection.getresponse()
        answer.read()
        connection.close()
        return answer.status

    def attacker(n):
        i = 0
        while time.monotonic() < stop:
            i += 1
            status = post({"email": f"victim-{n}-{i}-{time.time_ns()}@example.com", "password": "guess"},
                          "203.0.113.9")
            with lock:
                flood[status] = flood.get(status, 0) + 1

    def real_user():
        while time.monotonic() < stop:
            started = time.monotonic()
            status = post({"email": "bench@example.com", "password": PASSWORD}, "198.51.100.7")
            with lock:
                latencies.append((time.monotonic() - started) * 1000)
                real[status] = real.get(status, 0) + 1
            time.sleep(0.2)

    threads = [threading.Thread(target=attacker, args=(n,)) for n in range(attackers)]
    threads.append(threading.Thread(target=real_user))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, real, flood


def huge_emails(seconds, clients=8):
    """Failed sign-ins with 1 MB emails from ever new addresses: answers the count sent."""
    stop = time.monotonic() + seconds
    sent = [0]
    email = "a" * (1024 * 1024 - 100) + "@example.com"
    body = urllib.parse.urlencode({"email": email, "password": "guess"})

    def client(n):
        i = 0
        while time.monotonic() < stop:
            i += 1
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
            connection.request("POST", "/api/login", body, {
                "Content-Type": "application/x-www-form-urlencoded", "Origin": BASE,
                "X-Forwarded-For": f"10.{n}.{i // 256 % 256}.{i % 256}"})
            connection.getresponse().read()
            connection.close()
            sent[0] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent[0]


def bench_hostile(label, database_url, work, scripts):
    server = start_server(database_url, TRUSTED_PROXIES="127.0.0.1")
    lines = []
    try:
        cookie = sign_up("bench@example.com")
        token = create_token(cookie, ["streams:write", "streams:read"])
        _, answer = graphql_json(token, "mutation($s: StreamCreateInput!) { streamCreate(stream: $s) }",
                                 {"s": {"name": "Big", "isPublic": True}})
        stream = json.loads(answer)["data"]["streamCreate"]
        message = "m" * 60_000
        for _ in range(100):
            graphql_json(token, "mutation($c: CommitCreateInput!) { commitCreate(commit: $c) }",
                         {"c": {"streamId": stream, "objectId": "0" * 32, "message": message}})
        commits = f'stream(id: "{stream}") {{ commits(limit: 100) {{ items {{ message }} }} }}'
        for aliases in (400, 20):
            query = "{ " + " ".join(f"a{i}: {commits}" for i in range(aliases)) + " }"
            time.sleep(3)  # requests of the last run still finishing (each runs to completion)
            status, answer = graphql_json(None, query)
            message_of = json.loads(answer)["errors"][0]["message"] if status != 200 else "answered"
            run = wrk("/graphql", scripts["json"], {"BODY": json.dumps({"query": query})},
                      seconds=min(SECONDS, 10), connections=16)
            lines.append(f"| anonymous: {aliases} aliases × 100 commits of 60 kB ({len(query) // 1000} kB query) "
                         f"| {run['rps']:,.0f} | {run['p99']:.2f} | {status}: {message_of[:70]}… "
                         f"| {memory_mb(server.pid):.0f} MB |")
        two = "{ " + " ".join(f"a{i}: {commits}" for i in range(1)) + " }"
        time.sleep(3)
        status, answer = graphql_json(None, two)
        run = wrk("/graphql", scripts["json"], {"BODY": json.dumps({"query": two})},
                  seconds=min(SECONDS, 10), connections=16)
        lines.append(f"| anonymous: 1 alias (an honest 6 MB answer) | {run['rps']:,.0f} | {run['p99']:.2f} "
                     f"| {status}, {len(answer) / 1e6:.1f} MB | {memory_mb(server.pid):.0f} MB |")

        latencies, real, flood = sign_in_flood(30)
        lines.append(f"| sign-in flood: 32 clients, fresh emails, one address, 30 s | "
                     f"{sum(flood.values()) / 30:,.0f} | | flood answers {dict(sorted(flood.items()))} "
                     f"| {memory_mb(server.pid):.0f} MB |")
        lines.append(f"| a real user signing in meanwhile, from another address | {len(latencies) / 30:.1f} "
                     f"| {percentile(latencies, 99):.0f} | p50 {percentile(latencies, 50):.0f} ms, "
                     f"max {max(latencies):.0f} ms, answers {dict(sorted(real.items()))} (goal p99 ≤ 1,000 ms) "
                     f"| {memory_mb(server.pid):.0f} MB |")
        before = memory_mb(server.pid, "VmRSS")
        sent = huge_emails(10)
        after = memory_mb(server.pid, "VmRSS")
        lines.append(f"| 1 MB emails from new addresses, 8 clients, 10 s | {sent / 10:,.0f} | | "
                     f"RSS {before:.0f} → {after:.0f} MB | {memory_mb(server.pid):.0f} MB |")
        peak = memory_mb(server.pid)
    finally:
        server.terminate()
        server.wait()
    print(f"\n### {label}: hostile load\n")
    print("| attack | requests/s | p99 ms | answer | peak RSS so far |")
    print("| --- | ---: | ---: | --- | ---: |")
    for line in lines:
        print(line)
    print(f"| peak memory (RSS) of the server | | | | {peak:.0f} MB (goal ≤ 150 MB) |")


# ---- hostile load, round 2 (issue 16): every attack at once, four clients each ----

def http_request(method, path, body=b"", headers=None, timeout=60):
    """One request on a connection of its own: (status, body length); 0 if the server hung up."""
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    try:
        connection.request(method, path, body, headers or {})
        answer = connection.getresponse()
        return answer.status, len(answer.read())
    except (OSError, http.client.HTTPException):
        return 0, 0
    finally:
        connection.close()


def seed_attack_targets(sql, token, user_id):
    """A public stream of 1,500 commits of 60 kB by an author with a 250 kB avatar, and an
    object whose 100 children hold arrays; answers the stream's id."""
    _, answer = graphql_json(token, "mutation($s: StreamCreateInput!) { streamCreate(stream: $s) }",
                             {"s": {"name": "Public", "isPublic": True}})
    stream = json.loads(answer)["data"]["streamCreate"]
    graphql_json(token, "mutation($u: UserUpdateInput!) { userUpdate(user: $u) }",
                 {"u": {"avatar": "data:image/png;base64," + "A" * 250_000}})
    columns = "id, stream_id, branch_name, referenced_object, message, author_id, created_at"
    children = ",".join(f'"{i:032x}": 1' for i in range(100))
    parent = '{"id":"' + "p" * 32 + '","__closure":{' + children + "}}"
    objects = "stream_id, id, speckle_type, total_children_count, size_bytes, data, created_at"
    values = ",".join(f"('{stream}', '{i:032x}', 'Base', 0, 40, '{{\"id\":\"{i:032x}\",\"a\":[1,{{\"b\":2}}]}}', 0)"
                      for i in range(100))
    if sql.url.startswith("sqlite://"):
        sql.run(f"""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)
            INSERT INTO commits ({columns}) SELECT printf('%016x', i), '{stream}', 'main', 'obj',
                replace(hex(zeroblob(30000)), '0', 'm'), '{user_id}', 1700000000000 + i FROM n;
            INSERT INTO objects ({objects}) VALUES {values}, ('{stream}', '{"p" * 32}', 'Base', 100, {len(parent)}, '{parent}', 0);
            PRAGMA wal_checkpoint(TRUNCATE);""")
    else:
        sql.run(f"""
            INSERT INTO commits ({columns}) SELECT lpad(to_hex(i), 16, '0'), '{stream}', 'main', 'obj',
                repeat('m', 60000), '{user_id}', 1700000000000 + i FROM generate_series(1, 1500) AS i;
            INSERT INTO objects ({objects}) VALUES {values}, ('{stream}', '{"p" * 32}', 'Base', 100, {len(parent)}, '{parent}', 0);
            VACUUM ANALYZE;""")
    return stream


def bench_attacks(label, database_url, scripts):
    """Every attack of issue 16 at once, four clients each, while an honest script runs the
    docs query: its rate against the same query alone, its errors, and the server's peak memory."""
    seconds = min(SECONDS, 10)
    server = start_server(database_url, TRUSTED_PROXIES="127.0.0.1")
    try:
        cookie = sign_up(f"attacks-{time.time_ns()}@example.com")
        token = create_token(cookie, ["streams:write", "streams:read", "profile:read", "profile:write"])
        _, me = graphql_json(token, "{ activeUser { id } }")
        stream = seed_attack_targets(Sql(database_url), token, json.loads(me)["data"]["activeUser"]["id"])
    finally:
        server.terminate()
        server.wait()
    # A fresh server: its peak memory is the attacks'.
    server = start_server(database_url, TRUSTED_PROXIES="127.0.0.1")
    try:
        docs = {"TOKEN": token, "QUERY": DOCS_QUERY}
        wrk("/graphql", scripts["bearer"], docs, seconds=2, connections=16)
        alone = wrk("/graphql", scripts["bearer"], docs, seconds=seconds, connections=16)
        gql = {"Content-Type": "application/json"}
        cursor = json.dumps({"query": f'{{ stream(id: "{stream}") {{ commits(limit: 1, cursor: '
                                      f'"2999-01-01T00:00:00.000999999Z") {{ items {{ id message authorAvatar }} }} }} }}'})
        select = json.dumps({"query": f'{{ stream(id: "{stream}") {{ object(id: "{"p" * 32}") {{ children('
                                      f'select: ["a", "a.0"]) {{ objects {{ data }} }} }} }} }}'})
        ids = urllib.parse.urlencode({"objects": "[" + '"a",' * 1_300_000 + '"a"]'}).encode()
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        attacks = {
            "anonymous commits(limit: 1) with a skip of 999,999 in its cursor (1,500 commits of 60 kB, 250 kB avatar)":
                lambda n, i: http_request("POST", "/graphql", cursor, gql),
            'anonymous children(select: ["a", "a.0"]) over arrays':
                lambda n, i: http_request("POST", "/graphql", select, gql),
            "anonymous /api/getobjects with 1.3 million ids (13 MB)":
                lambda n, i: http_request("POST", f"/api/getobjects/{stream}", ids, form),
        }
        # BENCH_ATTACK=<words of its name>: that attack alone (to see what each costs).
        only = os.environ.get("BENCH_ATTACK")
        attacks = {name: run for name, run in attacks.items() if not only or only in name}
        slow_uploads = 0 if only and only not in "six uploads" else 6
        stop = threading.Event()
        answers = {name: {} for name in attacks}
        lock = threading.Lock()

        def attacker(name, n):
            i = 0
            while not stop.is_set():
                i += 1
                status, _ = attacks[name](n, i)
                with lock:
                    answers[name][status] = answers[name].get(status, 0) + 1

        def slow_upload():
            """An upload of one account whose only batch trickles in, a byte a second."""
            connection = socket.create_connection(("127.0.0.1", PORT))
            head = (f"POST /objects/{stream} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                    "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000000\r\n\r\n"
                    "--b\r\nContent-Disposition: form-data; name=\"batch-0\"\r\nContent-Type: application/json\r\n\r\n[")
            connection.sendall(head.encode())
            while not stop.wait(1):
                try:
                    connection.sendall(b" ")
                except OSError:
                    break
            connection.close()

        threads = [threading.Thread(target=attacker, args=(name, n)) for name in attacks for n in range(4)]
        threads += [threading.Thread(target=slow_upload) for _ in range(slow_uploads)]
        for thread in threads:
            thread.start()
        time.sleep(1)
        started = time.monotonic()
        under = wrk("/graphql", scripts["bearer"], docs, seconds=seconds, connections=16)
        # Another user's upload meanwhile: it must not wait for the slow ones.
        other = create_token(sign_up(f"uploader-{time.time_ns()}@example.com"), ["streams:write", "streams:read"])
        _, created = graphql_json(other, "mutation($s: StreamCreateInput!) { streamCreate(stream: $s) }", {"s": {"name": "Mine"}})
        mine = json.loads(created)["data"]["streamCreate"]
        upload = (b"--b\r\nContent-Disposition: form-data; name=\"batch-0\"\r\nContent-Type: application/json\r\n\r\n"
                  b'[{"id": "' + b"0" * 32 + b'"}]\r\n--b--\r\n')
        upload_started = time.monotonic()
        upload_status, _ = http_request("POST", f"/objects/{mine}", upload,
                                        {"Authorization": f"Bearer {other}", "Content-Type": "multipart/form-data; boundary=b"})
        upload_took = time.monotonic() - upload_started
        elapsed = time.monotonic() - started
        stop.set()
        for thread in threads:
            thread.join()
        peak = memory_mb(server.pid)
    finally:
        server.terminate()
        server.wait()
    print(f"\n### {label}: every attack at once (issue 16), four clients each, for {elapsed:.0f} s\n")
    print("| attack | requests/s | answers |")
    print("| --- | ---: | --- |")
    for name, statuses in answers.items():
        print(f"| {name} | {sum(statuses.values()) / elapsed:,.1f} | {dict(sorted(statuses.items()))} |")
    print(f"| six uploads of one account, their batch trickling in a byte a second | | another user's upload meanwhile: "
          f"{upload_status} in {upload_took * 1000:.0f} ms |")
    print()
    print("| honest script: the docs query, 16 connections | requests/s | p99 ms | non-2xx |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| alone | {alone['rps']:,.0f} | {alone['p99']:.2f} | {alone['errors']} |")
    print(f"| during the attacks | {under['rps']:,.0f} | {under['p99']:.2f} | {under['errors']} |")
    print(f"\nduring / alone: {under['rps'] / alone['rps']:.2f}× (goal ≥ 0.5, no 5xx); "
          f"peak memory (RSS) of the server: {peak:.0f} MB (goal ≤ 150 MB)")


def compare(old_binary, work, scripts, rounds=3):
    """The docs query on another build (`--compare <binary>`) and on this one, taking turns on
    fresh databases, with a token that expires (so its headers are written): medians, ratio."""
    figures = {"before": [], "now": []}
    for round_ in range(rounds):
        for label, binary in (("before", old_binary), ("now", BINARY)):
            server = start_server(f"sqlite://{work}/compare-{label}-{round_}.db", binary=binary)
            try:
                cookie = sign_up(f"compare{round_}@example.com")
                token = create_token(cookie, ["profile:read", "streams:read"], expiration="90")
                docs = {"TOKEN": token, "QUERY": DOCS_QUERY}
                wrk("/graphql", scripts["bearer"], docs, seconds=2)
                figures[label].append(wrk("/graphql", scripts["bearer"], docs))
            finally:
                server.terminate()
                server.wait()
    print("\n### The docs query, this build against another (SQLite, median of "
          f"{rounds} runs each, taking turns)\n")
    print("| build | requests/s | p50 ms | p99 ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: |")
    medians = {}
    for label, runs in figures.items():
        median = sorted(runs, key=lambda f: f["rps"])[len(runs) // 2]
        medians[label] = median
        print(f"| {label} | {median['rps']:,.0f} | {median['p50']:.2f} | {median['p99']:.2f} | "
              f"{sum(r['errors'] for r in runs)} |")
    print(f"\nnow / before: {medians['now']['rps'] / medians['before']['rps']:.2f}× (goal ≥ 0.90)")


def main():
    work = tempfile.mkdtemp(prefix="speckle-bench-")
    scripts = {
        "bearer": lua_script(work, "bearer.lua", """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = '{"query":"' .. os.getenv("QUERY") .. '"}'
"""),
        "json": lua_script(work, "json.lua", """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY")
"""),
        "anonymous": lua_script(work, "anonymous.lua", """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"' .. os.getenv("QUERY") .. '"}'
"""),
        "page": lua_script(work, "page.lua", """
wrk.headers["Cookie"] = os.getenv("COOKIE")
wrk.headers["Accept"] = "text/html"
"""),
        "create": lua_script(work, "create.lua", """
local cookies = {}
for cookie in string.gmatch(os.getenv("COOKIES"), "[^\\n]+") do table.insert(cookies, cookie) end
local n = 0
request = function()
  n = n + 1
  local headers = {["Content-Type"] = "application/x-www-form-urlencoded", ["Origin"] = os.getenv("ORIGIN"),
                   ["Cookie"] = cookies[(n % #cookies) + 1]}
  return wrk.format("POST", nil, headers, "name=bench&expiration=never&scopes%5B0%5D=profile%3Aread")
end
"""),
        "login": lua_script(work, "login.lua", """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Origin"] = os.getenv("ORIGIN")
wrk.body = "email=" .. os.getenv("EMAIL") .. "&password=" .. string.gsub(os.getenv("PASSWORD"), " ", "+")
"""),
    }
    print(f"machine: {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
          f"wrk -t2 -c{CONNECTIONS} -d{SECONDS}s on loopback")
    only_objects = "--objects" in sys.argv
    if "--compare" in sys.argv:
        compare(sys.argv[sys.argv.index("--compare") + 1], work, scripts)
        shutil.rmtree(work, ignore_errors=True)
        return
    if "--hostile" in sys.argv:
        bench_hostile("SQLite", f"sqlite://{work}/hostile.db", work, scripts)
        bench_attacks("SQLite", f"sqlite://{work}/attacks.db", scripts)
        if os.environ.get("BENCH_POSTGRES_URL"):
            bench_attacks("PostgreSQL", os.environ["BENCH_POSTGRES_URL"], scripts)
        shutil.rmtree(work, ignore_errors=True)
        return
    # One part of the bench alone: on SQLite, then on PostgreSQL if BENCH_POSTGRES_URL is set.
    parts = {
        "--live": lambda name, url: __import__("bench_live").run(name, url, scripts, two_servers=name != "SQLite"),
        "--api": lambda name, url: bench(name, url, scripts),
        "--attacks": lambda name, url: bench_attacks(name, url, scripts),
    }
    for flag, part in parts.items():
        if flag in sys.argv:
            part("SQLite", f"sqlite://{work}/{flag[2:]}.db")
            if os.environ.get("BENCH_POSTGRES_URL"):
                part("PostgreSQL", os.environ["BENCH_POSTGRES_URL"])
            shutil.rmtree(work, ignore_errors=True)
            return
    if "--weight" in sys.argv:
        page_weight("SQLite", f"sqlite://{work}/weight.db")
        shutil.rmtree(work, ignore_errors=True)
        return
    if not only_objects:
        bench("SQLite", f"sqlite://{work}/bench.db", scripts)
        page_weight("SQLite", f"sqlite://{work}/weight.db")
    bench_objects("SQLite", f"sqlite://{work}/objects.db", work)
    if not only_objects:
        bench_hostile("SQLite", f"sqlite://{work}/hostile.db", work, scripts)
        bench_attacks("SQLite", f"sqlite://{work}/attacks.db", scripts)
        import bench_live
        bench_live.run("SQLite", f"sqlite://{work}/live.db", scripts)
    postgres = os.environ.get("BENCH_POSTGRES_URL")
    if postgres:
        if not only_objects:
            bench("PostgreSQL", postgres, scripts)
        bench_objects("PostgreSQL", postgres, work)
        if not only_objects:
            bench_attacks("PostgreSQL", postgres, scripts)
            bench_live.run("PostgreSQL", postgres, scripts, two_servers=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
