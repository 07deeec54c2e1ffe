//! The sidecar's audit lines: one JSON object per decision in its log.

use serde_json::Value;

/// The decision records among `log`'s lines (other log lines are skipped).
pub fn decisions(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["message"] == "decision" && r.get("decision").is_some())
        .collect()
}

/// Whether one record has every pair (`None`: the key is absent).
pub fn has(records: &[Value], pairs: &[(&str, Option<&str>)]) -> bool {
    records.iter().any(|r| {
        pairs.iter().all(|(k, v)| match v {
            Some(v) => r[*k] == *v,
            None => r.get(*k).is_none_or(Value::is_null),
        })
    })
}

/// One short row per decision: decision, backend, method, target, policy / rule.
pub fn table(records: &[Value]) -> String {
    let field = |r: &Value, k: &str| r[k].as_str().unwrap_or("-").to_owned();
    let rows: Vec<[String; 5]> = records
        .iter()
        .map(|r| {
            let mut by = field(r, "policy");
            if let Some(rule) = r["rule"].as_str() {
                by.push_str(&format!(" / {rule}"));
            }
            [
                field(r, "decision"),
                field(r, "backend"),
                field(r, "method"),
                field(r, "target"),
                by,
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].len()).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2), width(3)];
    rows.iter()
        .map(|r| {
            format!(
                "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
