//! Files written by earlier versions open and answer as they did (see tests/golden).

use std::path::PathBuf;

use serde_json::Value;

use crate::util::Workdir;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

#[test]
fn format_1_0_indexes_open_and_give_the_answers_they_gave() {
    let w = Workdir::new();
    for (index, metric, codes) in [("l2-2bit", "l2", "2bit"), ("cosine-4bit", "cosine", "4bit")] {
        let path = golden(&format!("v1.0/{index}.lmd"));
        let path = path.to_str().unwrap();
        let stats: Value = serde_json::from_str(&w.ok(&["stats", "--index", path, "--json"])).unwrap();
        assert_eq!(stats["format_version"], "1.0", "{index}");
        assert_eq!(
            (stats["metric"].as_str(), stats["codes"].as_str(), stats["element_type"].as_str()),
            (Some(metric), Some(codes), Some("f32"))
        );
        let queries = golden("v1.0/queries.fvecs");
        let hits = w.ok(&["search", "--index", path, "--query", queries.to_str().unwrap(), "-k", "5", "-L", "32"]);
        let expected = std::fs::read_to_string(golden(&format!("v1.0/{index}.hits.csv"))).unwrap();
        assert_eq!(hits, expected, "{index}: answers changed");
    }
}
