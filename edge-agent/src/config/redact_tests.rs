use super::*;

/// Every place a secret sits in a real config, with a distinct value each, so one left behind is named.
const CONFIG: &str = r##"
[agent]
site = "一号厂"            # 锅炉房
[api]
token_file = "/etc/edge-agent/api.token"
# token = "s3cret-commented"

[[uplink]]
kind = "influxdb_v2"
url = "https://historian.example.com"
token = "s3cret-influx"
org = "acme#1"

[[mqtt.broker]]
name = "厂区"
url = "mqtt://operator:s3cret-url@broker.local:1883/"
auth = { user = "edge", password = "s3cret-inline" }
tls.client_key = """
s3cret-pem
"""

[opcua.server.security]
Password = 'S3CRET-UPPER'
apiKey = 12345678
keys = ["s3cret-a", "s3cret-b"]

[[sim.device]]
name = "锅炉一号"
tags = [{ name = "锅炉一号.温度", shape = "noise" }]   # 温度 #2 sensor, keyword tag
"##;

#[test]
fn every_secret_is_gone_and_the_rest_stays_as_written() {
    let shown = redact(CONFIG);
    for secret in ["s3cret", "S3CRET", "12345678", "operator:"] {
        assert!(!shown.contains(secret), "{secret:?} left in:\n{shown}");
    }
    for kept in [
        "site = \"一号厂\"            # 锅炉房",
        "org = \"acme#1\"",
        "url = \"https://historian.example.com\"",
        "url = \"mqtt://[redacted]@broker.local:1883/\"",
        "{ name = \"锅炉一号.温度\", shape = \"noise\" }",
        "# 温度 #2 sensor, keyword tag",
        "token = \"[redacted]\"",
        "auth = { user = \"[redacted]\", password = \"[redacted]\" }",
        "apiKey = \"[redacted]\"",
        "keys = [\"[redacted]\", \"[redacted]\"]",
    ] {
        assert!(shown.contains(kept), "{kept:?} missing from:\n{shown}");
    }
    assert!(shown.contains(REDACTED_COMMENT), "the commented-out token is redacted:\n{shown}");
    // What is shown still parses: the engineer can copy it.
    DeTable::parse(&shown).expect("the redacted file is still TOML");
}

#[test]
fn key_names_that_are_and_are_not_secret() {
    for secret in
        ["password", "token", "influx_token", "apiKey", "API-KEY", "key_file", "client_key", "auth", "PSK"]
    {
        assert!(is_secret_key(secret), "{secret}");
    }
    for plain in ["name", "url", "org", "bucket", "keyboard", "monkey", "passes", "tag", "温度", "device"] {
        assert!(!is_secret_key(plain), "{plain}");
    }
}

#[test]
fn a_file_that_does_not_parse_shows_nothing_of_itself() {
    let shown = redact("token = \"s3cret\"\n[[broken");
    assert!(!shown.contains("s3cret"));
}
