"""Drives the release server with wrk and prints the figures of issue 5 as a table.

Everything compared is measured in the same run, against the same server.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target/release/speckle-tokens")
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = 64
PORT = 3300
BASE = f"http://127.0.0.1:{PORT}"
DOCS_QUERY = "{ user { id suuid streams { totalCount } } }"
PASSWORD = "correct horse battery staple"


def start_server(database_url, port=PORT, **settings):
    env = dict(os.environ, DATABASE_URL=database_url, LEPTOS_SITE_ADDR=f"127.0.0.1:{port}",
               LEPTOS_SITE_ROOT=os.path.join(ROOT, "target/site"), LEPTOS_ENV="PROD", RUST_LOG="warn",
               MAX_FAILED_SIGN_INS="1000000000", **settings)
    server = subprocess.Popen([BINARY], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
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
        set_cookie = response.headers.get("Set-Cookie")
        return json.loads(response.read() or b"null"), set_cookie.split(";")[0] if set_cookie else cookie


def sign_up(email):
    _, cookie = post_form("/api/signup", {"name": "Bench", "email": email, "password": PASSWORD})
    return cookie


def create_token(cookie, scopes, name="bench"):
    fields = {"name": name, "expiration": "never"}
    fields.update({f"scopes[{i}]": scope for i, scope in enumerate(scopes)})
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

        health = wrk("/healthz")
        server_info = wrk("/graphql", scripts["anonymous"], {"QUERY": "{ serverInfo { name } }"})
        docs_small = wrk("/graphql", scripts["bearer"], docs)
        rows.append(("GET /healthz", health, ""))
        rows.append(("anonymous { serverInfo { name } }", server_info,
                     f"{server_info['rps'] / health['rps']:.2f}× healthz"))
        rows.append(("docs query, valid token", docs_small,
                     f"{docs_small['rps'] / server_info['rps']:.2f}× serverInfo (goal ≥ {'0.6' if 'SQLite' in label else '0.3'})"))

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


def main():
    work = tempfile.mkdtemp(prefix="speckle-bench-")
    scripts = {
        "bearer": lua_script(work, "bearer.lua", """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = '{"query":"' .. os.getenv("QUERY") .. '"}'
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
    bench("SQLite", f"sqlite://{work}/bench.db", scripts)
    postgres = os.environ.get("BENCH_POSTGRES_URL")
    if postgres:
        bench("PostgreSQL", postgres, scripts)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
