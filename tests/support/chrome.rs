//! Validation of Chrome trace-event JSON, shared by the trace and blocking tests.

use serde_json::Value;

/// Every event of a parsed Chrome trace, checked for the fields its phase needs.
pub fn checked_events(json: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(json).expect("the export is valid JSON");
    assert_eq!(doc["displayTimeUnit"], "ms");
    let events = doc["traceEvents"]
        .as_array()
        .expect("traceEvents is an array")
        .clone();
    let mut named_threads = Vec::new();
    for e in &events {
        assert!(e["name"].is_string(), "{e}");
        assert!(e["pid"].as_u64().is_some_and(|p| p >= 1), "{e}");
        assert!(e["tid"].as_u64().is_some(), "{e}");
        match e["ph"].as_str().expect("ph") {
            "M" => {
                assert!(e["args"]["name"].is_string(), "{e}");
                if e["name"] == "thread_name" {
                    named_threads.push((e["pid"].clone(), e["tid"].clone()));
                } else {
                    assert_eq!(e["name"], "process_name");
                }
            }
            "X" => {
                assert!(e["ts"].as_f64().is_some_and(|t| t >= 0.0), "{e}");
                assert!(e["dur"].as_f64().is_some_and(|d| d >= 0.0), "{e}");
            }
            "i" => {
                assert!(e["ts"].as_f64().is_some_and(|t| t >= 0.0), "{e}");
                assert_eq!(e["s"], "t");
            }
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    for e in events.iter().filter(|e| e["ph"] != "M") {
        let thread = (e["pid"].clone(), e["tid"].clone());
        assert!(named_threads.contains(&thread), "no thread_name for {e}");
    }
    events
}
