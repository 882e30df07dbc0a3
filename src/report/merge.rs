//! `tlsdiag merge`: combines JSON documents of separate runs (other machines, other shards)
//! into one, as if one run had read all their inputs: files and connections in order, totals
//! recomputed, server profiles added up.

use crate::record::{READABLE_SCHEMA_VERSIONS, SCHEMA_VERSION};
use crate::verdict::Code;
use serde_json::{json, Map, Value};

/// Merges documents written by `analyze --format json`.
pub fn merge(documents: &[Value]) -> Result<Value, String> {
    let mut files = Vec::new();
    let mut connections = Vec::new();
    let mut servers: Map<String, Value> = Map::new();
    let mut problems = Vec::new();
    for (i, doc) in documents.iter().enumerate() {
        let readable =
            doc["schema_version"].as_u64().is_some_and(|v| READABLE_SCHEMA_VERSIONS.iter().any(|&r| u64::from(r) == v));
        if !readable {
            return Err(format!(
                "document {} has schema_version {}, expected one of {READABLE_SCHEMA_VERSIONS:?}",
                i + 1,
                doc["schema_version"]
            ));
        }
        files.extend(doc["files"].as_array().cloned().unwrap_or_default());
        connections.extend(doc["connections"].as_array().cloned().unwrap_or_default());
        // Each document's problems as they were (not regrouped across documents), largest first.
        problems.extend(doc["problems"].as_array().cloned().unwrap_or_default());
        for server in doc["servers"].as_array().into_iter().flatten() {
            let key = server["server"].as_str().unwrap_or_default().to_string();
            match servers.get_mut(&key) {
                Some(existing) => add_profile(existing, server),
                None => {
                    servers.insert(key, server.clone());
                }
            }
        }
    }
    let mut verdicts: Map<String, Value> = Map::new();
    let (mut frames, mut conns, mut with_errors, mut evicted, mut decrypted) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for f in &files {
        frames += f["frames"].as_u64().unwrap_or(0);
        decrypted += f["decrypted"].as_u64().unwrap_or(0);
        evicted += f["flow_stats"]["connections_evicted"].as_u64().unwrap_or(0);
        conns += f["connections"].as_u64().unwrap_or(0);
        with_errors += (!f["error"].is_null()) as u64;
        add_counts(&mut verdicts, &f["verdicts"]);
    }
    problems.sort_by_key(|p| std::cmp::Reverse(p["connections"].as_u64().unwrap_or(0)));
    let failures: u64 = verdicts
        .iter()
        .filter(|(code, _)| Code::from_name(code).is_some_and(Code::is_failure))
        .map(|(_, n)| n.as_u64().unwrap_or(0))
        .sum();
    Ok(json!({
        "schema_version": SCHEMA_VERSION,
        "tool": documents.first().map(|d| d["tool"].clone()).unwrap_or(Value::Null),
        "files": files,
        "totals": {
            "files": files.len(),
            "files_with_errors": with_errors,
            "frames": frames,
            "connections": conns,
            "failures": failures,
            "evicted": evicted,
            "decrypted": decrypted,
            "verdicts": verdicts,
        },
        "problems": problems,
        "servers": servers.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "connections": connections,
    }))
}

/// Adds the numeric values of `more` to `into`, key by key.
fn add_counts(into: &mut Map<String, Value>, more: &Value) {
    for (k, v) in more.as_object().into_iter().flatten() {
        let sum = into.get(k).and_then(Value::as_u64).unwrap_or(0) + v.as_u64().unwrap_or(0);
        into.insert(k.clone(), json!(sum));
    }
}

fn add_profile(into: &mut Value, more: &Value) {
    for key in ["connections", "ok"] {
        into[key] = json!(into[key].as_u64().unwrap_or(0) + more[key].as_u64().unwrap_or(0));
    }
    for key in ["failures", "versions", "cipher_suites", "alerts_sent"] {
        let mut map = into[key].as_object().cloned().unwrap_or_default();
        add_counts(&mut map, &more[key]);
        into[key] = Value::Object(map);
    }
    let mut certs: std::collections::BTreeSet<String> =
        into["certificates"].as_array().into_iter().flatten().filter_map(|c| c.as_str().map(String::from)).collect();
    certs.extend(more["certificates"].as_array().into_iter().flatten().filter_map(|c| c.as_str().map(String::from)));
    into["certificates"] = json!(certs);
    // Findings are per run: each document's stand as they were drawn.
    let mut findings = into["findings"].as_array().cloned().unwrap_or_default();
    findings.extend(more["findings"].as_array().into_iter().flatten().cloned());
    into["findings"] = Value::Array(findings);
}
