//! OpenSSH's sshd, as a gateway's: on a free 127.0.0.1 port with a host key and one user key of its own
//! (both made here with ssh-keygen), for the current user, stopped on drop. [`Sshd::client_opts`] are
//! the ssh/scp options that reach it and trust exactly its host key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::historians::{Process, free_port};

const BINARY: &str = "/usr/sbin/sshd";

pub struct Sshd {
    process: Process,
    pub port: u16,
    /// `user@127.0.0.1`.
    pub host: String,
    dir: PathBuf,
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "edge-agent-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen runs (Debian package openssh-client; hil-tests/run.sh installs openssh-server)");
    assert!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
}

impl Sshd {
    pub fn start() -> Sshd {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().to_owned();
        keygen(&d.join("host_key"));
        keygen(&d.join("user_key"));
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).unwrap();
        let port = free_port();
        let user = std::env::var("USER")
            .ok()
            .or_else(|| {
                let out = Command::new("id").arg("-un").output().ok()?;
                Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
            })
            .expect("the current user's name");
        // sshd wants its privilege-separation directory; as root the test may make it.
        let _ = std::fs::create_dir_all("/run/sshd");
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             PidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nAllowUsers {user}\n\
             Subsystem sftp /usr/lib/openssh/sftp-server\nLogLevel ERROR\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        let mut fields = host_pub.split_whitespace();
        let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
        std::fs::write(d.join("known_hosts"), format!("[127.0.0.1]:{port} {kind} {key}\n")).unwrap();
        let args: Vec<String> =
            vec!["-D".into(), "-e".into(), "-f".into(), d.join("sshd_config").display().to_string()];
        if !Path::new(BINARY).exists() {
            panic!("{BINARY} is missing: run hil-tests/run.sh, which installs openssh-server");
        }
        let mut process = Process::spawn("sshd", BINARY, dir, &args);
        process.wait_listening(SocketAddr::from(([127, 0, 0, 1], port)));
        Sshd { process, port, host: format!("{user}@127.0.0.1"), dir: d }
    }

    /// ssh/scp options (in `-o`/`-i` form, good for both) that reach this sshd with the user key and
    /// trust its host key only.
    pub fn client_opts(&self) -> String {
        let d = self.dir.display();
        format!(
            "-F /dev/null -i {d}/user_key -o IdentitiesOnly=yes -o Port={} -o UserKnownHostsFile={d}/known_hosts \
             -o StrictHostKeyChecking=yes -o LogLevel=ERROR",
            self.port
        )
    }

    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}
