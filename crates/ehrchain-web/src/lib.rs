//! The web UI: static assets compiled into the binary with `include_bytes!`, looked up by path.
//! Plain ES modules, HTML and CSS with no build step, so what is reviewed is what is served.
//! This crate knows no HTTP: `ehrchain-api` serves these under a strict Content-Security-Policy.
//!
//! The browser does all the patient-side cryptography itself (see `assets/crypto.js`): Ed25519
//! signing of transactions in their canonical encoding (`assets/codec.js`), HPKE envelopes and
//! STREAM record encryption with WebCrypto, and the passphrase-encrypted key backup.

/// One asset: its media type and bytes.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! assets {
    ($($file:literal => $ct:literal),+ $(,)?) => {
        /// Every asset, by its path under `/ui/`.
        pub const ASSETS: &[Asset] = &[
            $(Asset { path: $file, content_type: $ct, body: include_bytes!(concat!("../assets/", $file)) }),+
        ];
    };
}

assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "app.js" => "text/javascript; charset=utf-8",
    "api.js" => "text/javascript; charset=utf-8",
    "codec.js" => "text/javascript; charset=utf-8",
    "crypto.js" => "text/javascript; charset=utf-8",
    "session.js" => "text/javascript; charset=utf-8",
    "views.js" => "text/javascript; charset=utf-8",
    "flows.js" => "text/javascript; charset=utf-8",
    "proof.js" => "text/javascript; charset=utf-8",
    "selftest.html" => "text/html; charset=utf-8",
}

/// The asset at `path` (relative to `/ui/`), if there is one.
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The policy every UI response carries: scripts, styles and connections only from this node;
/// no inline script or style, no framing, no plug-ins. Decrypted records are shown through
/// `blob:` URLs made in the page.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; img-src 'self' blob:; media-src blob:; connect-src 'self'; form-action 'none'; \
frame-ancestors 'none'; base-uri 'none'";

#[cfg(test)]
mod tests {
    use super::*;

    // Every file in assets/ is served, and nothing is served that is not in assets/.
    #[test]
    fn every_asset_file_is_listed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("assets dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
    }

    // The CSP promise: no inline script or style handlers anywhere in the HTML.
    #[test]
    fn html_has_no_inline_script_or_style() {
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".html")) {
            let text = std::str::from_utf8(a.body).expect("utf-8");
            for bad in [
                "<script>",
                "style=",
                " onclick=",
                " onload=",
                "javascript:",
                "https://",
            ] {
                assert!(!text.contains(bad), "{} contains {bad:?}", a.path);
            }
            for line in text.lines().filter(|l| l.contains("<script")) {
                assert!(line.contains("src=\"/ui/"), "{}: {line}", a.path);
            }
        }
    }
}
