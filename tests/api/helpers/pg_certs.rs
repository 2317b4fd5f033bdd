//! The test PostgreSQL's TLS certificates, made with the openssl command.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA of the test's own (in `dir`) and a certificate it signed for
/// 127.0.0.1, `server.crt`/`server.key` in `data` (postgres's defaults for
/// `ssl=on`), with the openssl command line. Returns the CA file.
pub fn make_certificates(dir: &Path, data: &Path) -> PathBuf {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl command (Debian's openssl) makes the test certificates");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca_args = vec!["req", "-x509", "-days", "2", "-subj", "/CN=kez test CA"];
    ca_args.extend(ec);
    ca_args.extend(["-keyout", "ca.key", "-out", "ca.crt"]);
    openssl(&ca_args);
    let mut csr_args = vec!["req", "-subj", "/CN=127.0.0.1"];
    csr_args.extend(ec);
    csr_args.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(&csr_args);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ]);
    for f in ["server.crt", "server.key"] {
        std::fs::rename(dir.join(f), data.join(f)).unwrap();
    }
    let key = data.join("server.key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    dir.join("ca.crt")
}
