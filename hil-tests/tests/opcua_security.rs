//! The OPC UA driver's security against asyncua: Sign-only and the Aes policies, an X.509 user
//! identity, and a wrong password refused with the server's status code and what to check.

use std::path::Path;
use std::time::Duration;

use hil_tests::asyncua::Asyncua;
use hil_tests::harness::Harness;
use hil_tests::opcua_link::{PRESSURE, secure_config, trust_the_server};
use protocols::Quality;

/// One asyncua server at a time (see tests/opcua.rs).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A link to `endpoint` with `security` lines, and one device reading the pressure.
fn config(endpoint: &str, data_dir: &Path, security: &str) -> String {
    secure_config(endpoint, data_dir, security, PRESSURE)
}

fn good(h: &Harness) -> bool {
    h.latest("锅炉一号.压力").is_some_and(|s| s.quality == Quality::Good)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_only_and_the_aes_policies_open_sessions_that_read() {
    let _serial = SERIAL.lock().await;
    let server_pki = tempfile::tempdir().unwrap();
    let pki_arg = server_pki.path().to_str().unwrap().to_owned();
    let mut args = vec!["--pki", &pki_arg];
    for p in
        ["Basic256Sha256_Sign", "Aes128Sha256RsaOaep_SignAndEncrypt", "Aes256Sha256RsaPss_SignAndEncrypt"]
    {
        args.extend(["--policy", p]);
    }
    let server = Asyncua::start_with(&args);
    // One data dir: the server's certificate, trusted once, stays trusted for the next links.
    let dir = tempfile::tempdir().unwrap();
    let mut first = true;
    for (policy, mode) in [
        ("Basic256Sha256", "Sign"),
        ("Aes128_Sha256_RsaOaep", "SignAndEncrypt"),
        ("Aes256_Sha256_RsaPss", "SignAndEncrypt"),
    ] {
        let security = format!("security_policy = \"{policy}\"\nsecurity_mode = \"{mode}\"");
        let h = Harness::start(&config(&server.endpoint(), dir.path(), &security));
        if std::mem::take(&mut first) {
            trust_the_server(&h, dir.path()).await;
        }
        h.until(Duration::from_secs(60), &format!("pressure Good over {policy}/{mode}"), good).await;
        h.stop().await;
    }
    // A mode the server does not offer is refused with what it offers.
    let security = "security_policy = \"Basic256Sha256\"\nsecurity_mode = \"SignAndEncrypt\"";
    let h = Harness::start(&config(&server.endpoint(), dir.path(), security));
    h.until(Duration::from_secs(30), "the missing endpoint named", |h| {
        h.device("锅炉一号").last_error().is_some_and(|e| {
            e.contains("offers no endpoint") && e.contains("Aes256_Sha256_RsaPss/SignAndEncrypt")
        })
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_x509_user_identity_logs_on() {
    let _serial = SERIAL.lock().await;
    let server_pki = tempfile::tempdir().unwrap();
    let users = tempfile::tempdir().unwrap();
    let (pki_arg, users_arg) =
        (server_pki.path().to_str().unwrap().to_owned(), users.path().to_str().unwrap().to_owned());
    let server = Asyncua::start_with(&["--pki", &pki_arg, "--user-cert", &users_arg]);
    let dir = tempfile::tempdir().unwrap();
    let security = format!(
        "security_policy = \"Basic256Sha256\"\nsecurity_mode = \"SignAndEncrypt\"\nuser_cert = \"{}\"\nuser_key = \"{}\"",
        users.path().join("user-cert.der").display(),
        users.path().join("user-key.pem").display()
    );
    let h = Harness::start(&config(&server.endpoint(), dir.path(), &security));
    trust_the_server(&h, dir.path()).await;
    h.until(Duration::from_secs(60), "pressure Good as the certificate's user", good).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_by_name_and_the_tags_stay_bad() {
    let _serial = SERIAL.lock().await;
    let server_pki = tempfile::tempdir().unwrap();
    let pki_arg = server_pki.path().to_str().unwrap().to_owned();
    let server = Asyncua::start_with(&["--pki", &pki_arg, "--user", "司炉工", "--password", "对的口令"]);
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "错的口令\n").unwrap();
    let security = format!(
        "security_policy = \"Basic256Sha256\"\nsecurity_mode = \"SignAndEncrypt\"\nuser = \"司炉工\"\npassword_file = \"{}\"",
        password.display()
    );
    let h = Harness::start(&config(&server.endpoint(), dir.path(), &security));
    trust_the_server(&h, dir.path()).await;
    h.until(Duration::from_secs(30), "the log-on refused by name", |h| {
        h.device("锅炉一号").last_error().is_some_and(|e| e.contains("BadUserAccessDenied"))
    })
    .await;
    let err = h.device("锅炉一号").last_error().unwrap();
    assert!(err.contains("司炉工") && err.contains(&password.display().to_string()), "{err}");
    assert!(!h.device("锅炉一号").is_up());
    assert!(h.latest("锅炉一号.压力").is_none_or(|s| s.quality != Quality::Good));
    // The right password in the file: picked up by the next attempt, no restart.
    std::fs::write(&password, "对的口令\n").unwrap();
    h.until(Duration::from_secs(30), "pressure Good with the right password", good).await;
    h.stop().await;
}
