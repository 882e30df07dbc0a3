#!/usr/bin/env python3
"""tlsdiag on Apache Spark: every capture of an archive diagnosed where it lies, then the
findings across connections computed per server over all of them.

Stage 1 (a map, no shared state): the capture files under the inputs (paths or globs on any
Hadoop file system) are grouped by the folder that holds them (a host's rotated ring), and each
folder's files go to one task, in name order, which runs the shipped `tlsdiag` binary
`analyze --merge --format ndjson --all` on them (local files in place; files of other file
systems read whole through Hadoop into a local temporary folder first). Every connection record
becomes a row of the `connections` table (Parquet, partitioned by capture date); every file that
could not be read becomes a row of `errors`.

Stage 2 (the one shuffle: records by server address): the records are grouped by server IP
address, each group in time order, and piped into `tlsdiag findings`, the same code that `analyze`
runs across connections; its server profiles, findings, problems and the verdicts it sharpened
become the `servers`, `findings`, `problems` and `verdicts` tables. A revocation check matches a
failed fetch by the same client to another address (the CRL or OCSP host): those few records join
the group as context, and only the group's own server's results are kept.

No diagnosis rule is written here: every verdict and finding comes from the binary.

usage (see spark/README.md):
  spark-submit --master 'local[*]' --files target/release/tlsdiag spark/tlsdiag_job.py --out OUT INPUT...
  python spark/tlsdiag_job.py --master 'local[*]' --tlsdiag target/release/tlsdiag --out OUT INPUT...
"""

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import unquote, urlparse

from pyspark import SparkFiles, StorageLevel, TaskContext
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

BINARY = "tlsdiag"

# What stage 1 tasks hand back: the host and the NDJSON record as tlsdiag wrote it. The columns
# are drawn from the record by Spark's own JSON reader (in the JVM, far faster than Python), see
# `connection_columns`.
RECORD_ROW = T.StructType([T.StructField("host", T.StringType(), False), T.StructField("record", T.StringType(), False)])

# The part of the record schema (README, "JSON schema") that becomes columns. A field the record
# leaves out holds its default: counters and flags read as 0 and false, lists as empty.
RECORD_FIELDS = """struct<
  file:string, client:string, server:string, first_frame:bigint, last_frame:bigint,
  start:string, end:string, packets:bigint, encapsulation:string, wireshark_filter:string,
  tcp:struct<ended_by:string, one_sided:string, syn_count:bigint, retransmissions:bigint, gaps:bigint>,
  tls:struct<
    client_hello:struct<max_version:string, sni:string, ja3:string, ja4:string>,
    server_hello:struct<version:string, cipher_suite:string, alpn:string, ja3s:string>,
    server_certificates:struct<certificates:array<struct<
      subject:string, issuer:string, not_after:string, revocation_urls:array<string>>>>,
    alerts:array<struct<level:string, description:string, sender:string>>,
    resumed:boolean, decrypted:boolean>,
  tds:struct<mode:string, negotiated:string>,
  verdict:struct<code:string, side:string, confidence:string, explanation:string, hint:string,
    evidence:array<struct<frame:bigint, what:string>>, risks:array<struct<code:string>>>,
  unsharpened_verdict:struct<code:string>>"""


def connection_columns():
    """The connections table's columns (spark/README.md lists them), from `host` and `record`."""
    r = F.from_json("record", RECORD_FIELDS)
    tls, ch, sh = r["tls"], r["tls"]["client_hello"], r["tls"]["server_hello"]
    leaf = F.try_element_at(r["tls"]["server_certificates"]["certificates"], F.lit(1))
    fatal = F.try_element_at(F.filter(F.coalesce(tls["alerts"], F.array()), lambda a: a["level"] == "fatal"), F.lit(1))
    evidence = F.coalesce(r["verdict"]["evidence"], F.array())
    endpoint = r"^\[?(.*?)\]?:(\d+)$"

    def zero(c):
        return F.coalesce(c, F.lit(0).cast("bigint"))

    def ip(c):
        return F.regexp_extract(c, endpoint, 1)

    def port(c):
        return F.regexp_extract(c, endpoint, 2).cast("int")

    return [
        F.col("host"),
        F.coalesce(r["file"], F.lit("")).alias("file"),
        r["client"].alias("client"),
        ip(r["client"]).alias("client_ip"),
        port(r["client"]).alias("client_port"),
        r["server"].alias("server"),
        ip(r["server"]).alias("server_ip"),
        port(r["server"]).alias("server_port"),
        zero(r["first_frame"]).alias("first_frame"),
        zero(r["last_frame"]).alias("last_frame"),
        F.to_timestamp(r["start"]).alias("start"),
        F.to_timestamp(r["end"]).alias("end"),
        zero(r["packets"]).alias("packets"),
        r["tcp"]["ended_by"].alias("ended_by"),
        r["tcp"]["one_sided"].alias("one_sided"),
        zero(r["tcp"]["syn_count"]).alias("syn_count"),
        zero(r["tcp"]["retransmissions"]).alias("retransmissions"),
        zero(r["tcp"]["gaps"]).alias("gaps"),
        r["encapsulation"].alias("encapsulation"),
        ch["max_version"].alias("client_max_version"),
        sh["version"].alias("version"),
        sh["cipher_suite"].alias("cipher_suite"),
        ch["sni"].alias("sni"),
        sh["alpn"].alias("alpn"),
        ch["ja3"].alias("ja3"),
        ch["ja4"].alias("ja4"),
        sh["ja3s"].alias("ja3s"),
        F.coalesce(tls["resumed"], F.lit(False)).alias("resumed"),
        F.coalesce(tls["decrypted"], F.lit(False)).alias("decrypted"),
        leaf["subject"].alias("certificate_subject"),
        leaf["issuer"].alias("certificate_issuer"),
        leaf["not_after"].alias("certificate_not_after"),
        F.coalesce(leaf["revocation_urls"], F.array().cast("array<string>")).alias("revocation_urls"),
        fatal["description"].alias("fatal_alert"),
        fatal["sender"].alias("fatal_alert_sender"),
        r["tds"]["mode"].alias("tds_mode"),
        r["tds"]["negotiated"].alias("tds_negotiated"),
        r["verdict"]["code"].alias("verdict_code"),
        r["verdict"]["side"].alias("verdict_side"),
        r["verdict"]["confidence"].alias("verdict_confidence"),
        r["verdict"]["explanation"].alias("verdict_explanation"),
        r["verdict"]["hint"].alias("verdict_hint"),
        F.transform(evidence, lambda e: zero(e["frame"])).alias("evidence_frames"),
        F.transform(
            evidence, lambda e: F.struct(zero(e["frame"]).alias("frame"), F.coalesce(e["what"], F.lit("")).alias("what"))
        ).alias("evidence"),
        F.transform(F.coalesce(r["verdict"]["risks"], F.array()), lambda x: x["code"]).alias("risks"),
        r["unsharpened_verdict"]["code"].alias("unsharpened_verdict_code"),
        r["wireshark_filter"].alias("wireshark_filter"),
        F.col("record"),
        F.substring(r["start"], 1, 10).alias("capture_date"),
    ]


ERROR_SCHEMA = T.StructType(
    [
        T.StructField("host", T.StringType(), True),
        T.StructField("file", T.StringType(), True),
        T.StructField("stage", T.StringType(), False),
        T.StructField("message", T.StringType(), False),
    ]
)

SERVER_SCHEMA = T.StructType(
    [
        T.StructField("server", T.StringType(), False),
        T.StructField("connections", T.LongType(), True),
        T.StructField("ok", T.LongType(), True),
        T.StructField("failures", T.MapType(T.StringType(), T.LongType()), True),
        T.StructField("versions", T.MapType(T.StringType(), T.LongType()), True),
        T.StructField("cipher_suites", T.MapType(T.StringType(), T.LongType()), True),
        T.StructField("certificates", T.ArrayType(T.StringType()), True),
        T.StructField("findings", T.LongType(), True),
        T.StructField("json", T.StringType(), False),
    ]
)

FINDING_SCHEMA = T.StructType(
    [
        T.StructField("server", T.StringType(), False),
        T.StructField("code", T.StringType(), False),
        T.StructField("confidence", T.StringType(), True),
        T.StructField("start", T.TimestampType(), True),
        T.StructField("end", T.TimestampType(), True),
        T.StructField("connections", T.LongType(), True),
        T.StructField("failed", T.LongType(), True),
        T.StructField("explanation", T.StringType(), True),
        T.StructField("hint", T.StringType(), True),
        T.StructField("json", T.StringType(), False),
    ]
)

PROBLEM_SCHEMA = T.StructType(
    [
        T.StructField("server", T.StringType(), False),
        T.StructField("code", T.StringType(), False),
        T.StructField("kind", T.StringType(), True),
        T.StructField("cause", T.StringType(), True),
        T.StructField("side", T.StringType(), True),
        T.StructField("confidence", T.StringType(), True),
        T.StructField("connections", T.LongType(), True),
        T.StructField("clients", T.LongType(), True),
        T.StructField("start", T.TimestampType(), True),
        T.StructField("end", T.TimestampType(), True),
        T.StructField("fix", T.StringType(), True),
        T.StructField("wireshark_filter", T.StringType(), True),
        T.StructField("json", T.StringType(), False),
    ]
)

VERDICT_SCHEMA = T.StructType(
    [
        T.StructField("host", T.StringType(), True),
        T.StructField("file", T.StringType(), False),
        T.StructField("client", T.StringType(), True),
        T.StructField("server", T.StringType(), True),
        T.StructField("first_frame", T.LongType(), True),
        T.StructField("verdict_code", T.StringType(), False),
        T.StructField("verdict_side", T.StringType(), True),
        T.StructField("verdict_confidence", T.StringType(), True),
        T.StructField("verdict_explanation", T.StringType(), True),
        T.StructField("verdict_hint", T.StringType(), True),
        T.StructField("unsharpened_verdict_code", T.StringType(), True),
        T.StructField("record", T.StringType(), False),
    ]
)

# The verdicts whose connection may be a failed revocation fetch, and those a failed fetch may
# explain (src/revocation.rs): which records join another server's group as context. This
# selects what to send, it decides nothing: the binary matches them or not.
FETCH_CODES = ["syn_timeout", "connection_refused", "tcp_handshake_incomplete", "reset_before_client_hello"]
REVOCATION_CODES = ["certificate_rejected", "aborted_after_server_hello", "fatal_alert"]


def parse_args(argv):
    p = argparse.ArgumentParser(description="tlsdiag over an archive of captures on Spark")
    p.add_argument("inputs", nargs="+", help="paths or globs (any Hadoop file system URI); folders are walked")
    p.add_argument("--out", required=True, help="output folder (any Hadoop file system URI)")
    p.add_argument("--tlsdiag", help="the tlsdiag binary to ship (else: spark-submit --files .../tlsdiag)")
    p.add_argument("--master", help="Spark master when run with python (spark-submit sets its own)")
    p.add_argument(
        "--copy",
        nargs="?",
        const=".*",
        metavar="REGEX",
        help="read the files of folders matching REGEX (default: all) through Hadoop even when local, as other file systems are",
    )
    p.add_argument("--findings-partitions", type=int, default=0, help="partitions of stage 2 (default: Spark's)")
    p.add_argument("--dump-json", action="store_true", help="also write every table as JSON lines under OUT/json")
    return p.parse_args(argv)


# ---- listing (driver) ---------------------------------------------------------------------


def list_inputs(spark, patterns):
    """Files under the inputs as {folder URI: [(file URI, size)]}, and listing errors."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    hosts, errors = {}, []

    def add(status):
        path = status.getPath()
        name = path.getName()
        # Hadoop's convention: names starting with _ or . are not data (_SUCCESS, .crc).
        if name.startswith("_") or name.startswith("."):
            return
        hosts.setdefault(path.getParent().toString(), []).append((path.toString(), status.getLen()))

    for pattern in patterns:
        try:
            path = jvm.org.apache.hadoop.fs.Path(pattern)
            fs = path.getFileSystem(conf)
            statuses = fs.globStatus(path)
            if not statuses:
                errors.append((None, pattern, "list", "no file matches"))
                continue
            for status in statuses:
                if status.isDirectory():
                    files = fs.listFiles(status.getPath(), True)
                    while files.hasNext():
                        add(files.next())
                else:
                    add(status)
        except Exception as e:  # a Py4JJavaError: permission, unknown scheme, ...
            errors.append((None, pattern, "list", java_message(e)))
    for files in hosts.values():
        files.sort()
    return hosts, errors


def java_message(e):
    text = str(e)
    java = getattr(e, "java_exception", None)
    if java is not None:
        text = java.toString()
    return text.strip().splitlines()[0] if text.strip() else repr(e)


def host_name(folder_uri):
    return os.path.basename(urlparse(folder_uri).path.rstrip("/")) or folder_uri


def local_path(uri):
    """The local path of a file: URI, or None for any other file system."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return unquote(parsed.path)
    return None


def shown_path(uri):
    """How a file is named in the tables: its local path, or its URI elsewhere."""
    return local_path(uri) or uri


# ---- the binary ---------------------------------------------------------------------------


def binary():
    path = SparkFiles.get(BINARY)
    if not os.access(path, os.X_OK):
        os.chmod(path, 0o755)
    return path


def drain(stream, into):
    for line in stream:
        into.append(line)


# ---- stage 1: one task per folder ---------------------------------------------------------


def ts(text):
    if not text:
        return None
    # tlsdiag writes RFC 3339 UTC with microseconds: 2024-05-01T12:00:00.123456Z
    return datetime.datetime.strptime(text.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)


def split_endpoint(endpoint):
    if not endpoint or ":" not in endpoint:
        return None, None
    ip, port = endpoint.rsplit(":", 1)
    try:
        return ip.strip("[]"), int(port)
    except ValueError:
        return ip.strip("[]"), None


def attempts_left(max_failures):
    ctx = TaskContext.get()
    attempt = ctx.attemptNumber() if ctx is not None else 0
    return attempt + 1 < max_failures


def analyze_folder(host, files, max_failures):
    """files: [(name in the tables, local path)], in ring order. Yields ("c", row) and ("e", row)."""
    labels = [name for name, _ in files]
    paths = [path for _, path in files]
    # The binary names inputs by the paths it was given: put the tables' names back.
    renamed = {path: name for name, path in files if path != name}
    merged_local = "merged(" + ",".join(paths) + ")"
    merged_shown = "merged(" + ",".join(labels) + ")"

    def rename(text):
        if not renamed:
            return text
        text = text.replace(merged_local, merged_shown)
        for path, name in renamed.items():
            text = text.replace(path, name)
        return text

    cmd = [binary(), "analyze", "--merge", "--format", "ndjson", "--all", *paths]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
    stderr = []
    reader = threading.Thread(target=drain, args=(proc.stderr, stderr), daemon=True)
    reader.start()
    for line in proc.stdout:
        line = line.rstrip("\n")
        if not line:
            continue
        if renamed:
            record = json.loads(line)
            record["file"] = rename(record.get("file", ""))
            line = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        yield "c", (host, line)
    code = proc.wait()
    reader.join()
    message = rename("".join(stderr).strip())
    if code == 0:
        return
    if code != 2:
        # A crash (a panic, a signal): Spark runs the task again; the last attempt names the files.
        if attempts_left(max_failures):
            raise RuntimeError(f"tlsdiag exited with {code} on {host} ({', '.join(labels)}): {message[-2000:]}")
        for name in labels:
            yield "e", (host, name, "analyze", f"tlsdiag exited with {code} in {max_failures} attempt(s): {message[-2000:]}")
        return
    # Exit 2: some parts could not be read. --merge names the first; read each part alone to
    # name them all (only for a folder that has a damaged part).
    per_file = {}
    if len(paths) > 1:
        probe = subprocess.run(
            [binary(), "analyze", "--format", "lines", "--threads", "1", *paths],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        for line in probe.stderr.splitlines():
            for path in paths:
                prefix = f"tlsdiag: {path}: "
                if line.startswith(prefix):
                    per_file[path] = line[len(prefix) :]
    if not per_file:
        # One part, or the probe found nothing more: the merged run's own words.
        for path in paths:
            if path in message or len(paths) == 1:
                per_file[path] = message.removeprefix("tlsdiag: ")
    if not per_file:
        yield "e", (host, merged_shown, "analyze", message)
    for path, text in per_file.items():
        name = renamed.get(path, path)
        yield "e", (host, name, "analyze", rename(text).removeprefix(name + ": "))


def direct_task(max_failures):
    def run(items):
        for host, files in items:
            try:
                yield from analyze_folder(host, [(shown_path(uri), local_path(uri)) for uri, _ in files], max_failures)
            except OSError as e:
                yield "e", (host, None, "analyze", f"cannot run tlsdiag: {e}")

    return run


def copied_task(host, uris, max_failures):
    """The files of one folder, read whole through Hadoop (binaryFiles), copied to local disk."""

    def run(contents):
        wanted = {uri: i for i, uri in enumerate(uris)}
        work = tempfile.mkdtemp(prefix="tlsdiag-")
        try:
            local = {}
            for uri, data in contents:
                i = wanted.get(uri)
                if i is None:  # the same file, spelt differently by the reader
                    i = next((j for u, j in wanted.items() if os.path.basename(u) == os.path.basename(uri)), None)
                if i is None:
                    continue
                path = os.path.join(work, f"{i:06d}-{os.path.basename(urlparse(uris[i]).path)}")
                with open(path, "wb") as f:
                    f.write(data)
                local[i] = path
            for i, uri in enumerate(uris):
                if i not in local:
                    yield "e", (
                        host,
                        shown_path(uri),
                        "read",
                        "not read through the Hadoop file system (unreadable or gone, or after such a file of the same folder)",
                    )
            files = [(shown_path(uris[i]), local[i]) for i in sorted(local)]
            if files:
                yield from analyze_folder(host, files, max_failures)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    return run


def glob_escape(uri):
    return re.sub(r"([\\,*?\[\]{}])", r"\\\1", uri)


# ---- stage 2: findings per server address -------------------------------------------------


def address(endpoint):
    ip, _ = split_endpoint(endpoint)
    return ip


def findings_task(items):
    """Rows sorted by (group, start); each group's records piped into `tlsdiag findings`."""
    group, proc, state = None, None, None
    for row in items:
        if row.group != group:
            if proc is not None:
                yield from finish_group(group, proc, state)
            group = row.group
            proc, state = start_group()
        if not row.context:
            state["hosts"][row.file] = row.host
        if not state["broken"]:
            try:
                proc.stdin.write(row.record)
                proc.stdin.write("\n")
            except BrokenPipeError:
                # The binary stopped reading (its error is on stderr, reported with the group).
                state["broken"] = True
    if proc is not None:
        yield from finish_group(group, proc, state)


def start_group():
    work = tempfile.mkdtemp(prefix="tlsdiag-findings-")
    summary = os.path.join(work, "summary.json")
    cmd = [binary(), "findings", "--format", "ndjson", "--all", "--summary", summary, "-"]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8"
    )
    state = {"work": work, "summary": summary, "sharpened": [], "stderr": [], "hosts": {}, "broken": False}

    def read_stdout():
        # Only what stage 2 changed or confirmed as changed is kept: memory per group stays
        # that of the sharpened records.
        for line in proc.stdout:
            if '"unsharpened_verdict"' in line:
                state["sharpened"].append(line.rstrip("\n"))

    state["threads"] = [
        threading.Thread(target=read_stdout, daemon=True),
        threading.Thread(target=drain, args=(proc.stderr, state["stderr"]), daemon=True),
    ]
    for t in state["threads"]:
        t.start()
    return proc, state


def finish_group(group, proc, state):
    try:
        proc.stdin.close()
    except BrokenPipeError:
        pass
    code = proc.wait()
    for t in state["threads"]:
        t.join()
    try:
        if code != 0:
            yield "e", (None, None, "findings", f"tlsdiag findings exited with {code} for {group}: {''.join(state['stderr'])[-2000:]}")
        try:
            with open(state["summary"], encoding="utf-8") as f:
                summary = json.load(f)
        except (OSError, ValueError) as e:
            yield "e", (None, None, "findings", f"no summary for {group}: {e}")
            return
        for s in summary.get("servers", []):
            if address(s["server"]) != group:
                continue
            yield "s", (
                s["server"],
                s.get("connections", 0),
                s.get("ok", 0),
                s.get("failures") or {},
                s.get("versions") or {},
                s.get("cipher_suites") or {},
                s.get("certificates") or [],
                len(s.get("findings") or []),
                json.dumps(s, separators=(",", ":"), ensure_ascii=False),
            )
            for f in s.get("findings") or []:
                yield "f", (
                    s["server"],
                    f["code"],
                    f.get("confidence"),
                    ts(f.get("start")),
                    ts(f.get("end")),
                    f.get("connections", 0),
                    f.get("failed", 0),
                    f.get("explanation"),
                    f.get("hint"),
                    json.dumps(f, separators=(",", ":"), ensure_ascii=False),
                )
        for p in summary.get("problems", []):
            if address(p["server"]) != group:
                continue
            yield "p", (
                p["server"],
                p["code"],
                p.get("kind"),
                p.get("cause"),
                p.get("side"),
                p.get("confidence"),
                p.get("connections", 0),
                p.get("clients", 0),
                ts(p.get("start")),
                ts(p.get("end")),
                p.get("fix"),
                p.get("wireshark_filter"),
                json.dumps(p, separators=(",", ":"), ensure_ascii=False),
            )
        for line in state["sharpened"]:
            c = json.loads(line)
            if address(c.get("server")) != group:
                continue
            v = c.get("verdict") or {}
            yield "v", (
                state["hosts"].get(c.get("file", "")),
                c.get("file", ""),
                c.get("client"),
                c.get("server"),
                c.get("first_frame", 0),
                v.get("code", ""),
                v.get("side"),
                v.get("confidence"),
                v.get("explanation"),
                v.get("hint"),
                (c.get("unsharpened_verdict") or {}).get("code"),
                line,
            )
    finally:
        shutil.rmtree(state["work"], ignore_errors=True)


# ---- the job ------------------------------------------------------------------------------


def run(spark, args):
    sc = spark.sparkContext
    if args.tlsdiag:
        sc.addFile(os.path.abspath(args.tlsdiag))
    if not os.path.exists(SparkFiles.get(BINARY)):
        raise SystemExit("tlsdiag_job: no tlsdiag binary: give --tlsdiag PATH, or spark-submit --files PATH/tlsdiag")
    max_failures = int(sc.getConf().get("spark.task.maxFailures", "1" if sc.master.startswith("local") else "4"))
    local_failures = re.match(r"local\[[^,\]]+,\s*(\d+)\]", sc.master)
    if local_failures:
        max_failures = int(local_failures.group(1))
    out = args.out.rstrip("/")

    clock = [("start", time.monotonic())]
    hosts, list_errors = list_inputs(spark, args.inputs)
    by_size = sorted(hosts.items(), key=lambda h: -sum(size for _, size in h[1]))
    def through_hadoop(folder, files):
        forced = args.copy is not None and re.search(args.copy, folder)
        return bool(forced) or not all(local_path(u) for u, _ in files)

    direct = [(host_name(folder), files) for folder, files in by_size if not through_hadoop(folder, files)]
    remote = [(host_name(folder), files) for folder, files in by_size if through_hadoop(folder, files)]

    parts = []
    if direct:
        parts.append(sc.parallelize(direct, len(direct)).mapPartitions(direct_task(max_failures)))
    for host, files in remote:
        uris = [uri for uri, _ in files]
        contents = sc.binaryFiles(",".join(glob_escape(u) for u in uris), minPartitions=1).coalesce(1)
        parts.append(contents.mapPartitions(copied_task(host, uris, max_failures)))
    stage1 = (sc.union(parts) if parts else sc.emptyRDD()).persist(StorageLevel.MEMORY_AND_DISK)

    records = spark.createDataFrame(stage1.filter(lambda t: t[0] == "c").map(lambda t: t[1]), RECORD_ROW)
    connections = records.select(connection_columns())
    connections.write.mode("overwrite").partitionBy("capture_date").parquet(f"{out}/connections")
    errors = stage1.filter(lambda t: t[0] == "e").map(lambda t: t[1]).collect() + list_errors
    clock.append(("analyze (stage 1)", time.monotonic()))

    # Stage 2 reads the table back: the records by server address, in time order.
    conns = spark.read.parquet(f"{out}/connections")
    own_code = F.coalesce(F.col("unsharpened_verdict_code"), F.col("verdict_code"))
    own = conns.select(F.col("server_ip").alias("group"), "start", "record", F.lit(False).alias("context"), "host", "file")
    fetches = conns.where(own_code.isin(FETCH_CODES)).select(
        F.col("client_ip").alias("f_client"),
        F.col("server_ip").alias("f_server"),
        F.col("start").alias("f_start"),
        F.col("record").alias("f_record"),
        F.col("host").alias("f_host"),
        F.col("file").alias("f_file"),
    )
    candidates = (
        conns.where(own_code.isin(REVOCATION_CODES) & (F.size("revocation_urls") > 0))
        .select(F.col("server_ip").alias("group"), F.col("client_ip").alias("c_client"), F.col("start").alias("c_start"), F.col("end").alias("c_end"))
    )
    context = (
        candidates.join(
            fetches,
            (F.col("f_client") == F.col("c_client"))
            & F.col("f_start").between(F.col("c_start"), F.col("c_end"))
            & (F.col("f_server") != F.col("group")),
        )
        .select(
            "group",
            F.col("f_start").alias("start"),
            F.col("f_record").alias("record"),
            F.lit(True).alias("context"),
            F.col("f_host").alias("host"),
            F.col("f_file").alias("file"),
        )
        .dropDuplicates(["group", "record"])
    )
    grouped = own.unionByName(context).where(F.col("group").isNotNull())
    # One task per group at most; by default as many partitions as cores.
    grouped = grouped.repartition(args.findings_partitions or sc.defaultParallelism, "group")
    stage2 = grouped.sortWithinPartitions("group", "start").rdd.mapPartitions(findings_task)
    stage2 = stage2.persist(StorageLevel.MEMORY_AND_DISK)
    for tag, schema, name in [
        ("s", SERVER_SCHEMA, "servers"),
        ("f", FINDING_SCHEMA, "findings"),
        ("p", PROBLEM_SCHEMA, "problems"),
        ("v", VERDICT_SCHEMA, "verdicts"),
    ]:
        rows = stage2.filter(lambda t, tag=tag: t[0] == tag).map(lambda t: t[1])
        spark.createDataFrame(rows, schema).write.mode("overwrite").parquet(f"{out}/{name}")
    errors += stage2.filter(lambda t: t[0] == "e").map(lambda t: t[1]).collect()
    spark.createDataFrame(errors, ERROR_SCHEMA).coalesce(1).write.mode("overwrite").parquet(f"{out}/errors")
    clock.append(("findings (stage 2)", time.monotonic()))

    if args.dump_json:
        for name in ["connections", "servers", "findings", "problems", "verdicts", "errors"]:
            spark.read.parquet(f"{out}/{name}").coalesce(1).write.mode("overwrite").json(f"{out}/json/{name}")
    print_summary(spark, out, hosts, errors)
    clock.append(("summary", time.monotonic()))
    print("time: " + ", ".join(f"{name} {t - last:.1f} s" for (_, last), (name, t) in zip(clock, clock[1:])))
    stage1.unpersist()
    stage2.unpersist()


def print_summary(spark, out, hosts, errors):
    """The end of the table report: problems first, then the counts per verdict."""
    conns = spark.read.parquet(f"{out}/connections")
    verdicts = spark.read.parquet(f"{out}/verdicts")
    final = (
        conns.alias("c")
        .join(verdicts.alias("v"), ["file", "client", "first_frame"], "left")
        .select(F.coalesce(F.col("v.verdict_code"), F.col("c.verdict_code")).alias("code"))
        .groupBy("code")
        .count()
        .orderBy("code")
        .collect()
    )
    problems = spark.read.parquet(f"{out}/problems").orderBy(F.desc("connections"), "server", "code").limit(20).collect()
    files = sum(len(f) for f in hosts.values())
    size = sum(s for f in hosts.values() for _, s in f)
    total = sum(r["count"] for r in final)
    print()
    if not problems:
        print("no problems found")
    else:
        print(f"{len(problems)} problem(s) (the largest first):")
        for i, p in enumerate(problems, 1):
            print(f"\n{i}. {p.code} at {p.server}: {p.connections} connection(s) from {p.clients} client(s) ({p.confidence}, at fault: {p.side})")
            if p.cause:
                print(f"   cause:   {p.cause}")
            print(f"   fix:     {p.fix}")
            print(f"   filter:  {p.wireshark_filter}")
    print()
    print(f"{len(hosts)} folder(s), {files} file(s), {size / 1e6:.1f} MB, {total} connection(s)")
    for r in final:
        print(f"  {r['code']:<28} {r['count']}")
    if errors:
        print(f"{len(errors)} error(s) (table {out}/errors):")
        for host, name, stage, message in errors[:20]:
            print(f"  {name or host or ''}: {message}")
    print(f"tables: {out}/connections (by capture_date), servers, findings, problems, verdicts, errors")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # Times in UTC everywhere, as tlsdiag writes them.
    # An unreadable file read through Hadoop ends its folder's reading instead of the job: the
    # files not received are named in the errors table (copied_task).
    builder = (
        SparkSession.builder.appName("tlsdiag")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.files.ignoreCorruptFiles", "true")
        .config("spark.files.ignoreMissingFiles", "true")
    )
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    try:
        run(spark, args)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
