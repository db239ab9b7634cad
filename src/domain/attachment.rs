//! Files attached to a piece of evidence: a screenshot of a graph, a log file. They are small,
//! of a few known types, and checked to be what they claim, since every responder's browser
//! shows them.

use super::{FieldError, bounded_text};

/// The largest attachment: a screenshot or a log excerpt, not a heap dump.
pub const MAX_ATTACHMENT_BYTES: usize = 2 * 1024 * 1024;
/// The most attachments one piece of evidence holds.
pub const MAX_ATTACHMENTS: usize = 10;

closed_set! {
    /// What an attachment may be. No SVG or HTML: a browser would run their scripts.
    pub enum AttachmentType for "content_type" {
        Png = "image/png",
        Jpeg = "image/jpeg",
        Gif = "image/gif",
        Webp = "image/webp",
        Text = "text/plain",
        Csv = "text/csv",
        Json = "application/json",
    }
}

impl AttachmentType {
    /// The type a `Content-Type` value names, parameters (`; charset=utf-8`) aside.
    pub fn from_media_type(value: &str) -> Option<Self> {
        let essence = value.split(';').next().unwrap_or_default().trim();
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.as_str().eq_ignore_ascii_case(essence))
    }

    /// The type a file's name suggests, for clients that cannot say (a browser sends
    /// `application/octet-stream` for a `.log`).
    pub fn from_file_name(name: &str) -> Option<Self> {
        let (_, extension) = name.rsplit_once('.')?;
        Some(match extension.to_ascii_lowercase().as_str() {
            "png" => Self::Png,
            "jpg" | "jpeg" => Self::Jpeg,
            "gif" => Self::Gif,
            "webp" => Self::Webp,
            "txt" | "log" | "out" | "err" => Self::Text,
            "csv" => Self::Csv,
            "json" | "ndjson" | "jsonl" => Self::Json,
            _ => return None,
        })
    }

    /// The extension its files are saved under.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Gif => "gif",
            Self::Webp => "webp",
            Self::Text => "txt",
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }

    /// Whether the board shows it as a picture (rather than a link).
    pub fn is_image(self) -> bool {
        matches!(self, Self::Png | Self::Jpeg | Self::Gif | Self::Webp)
    }

    /// Whether `content` starts as this type's files do (images) or is UTF-8 (text).
    fn matches(self, content: &[u8]) -> bool {
        match self {
            Self::Png => content.starts_with(b"\x89PNG\r\n\x1a\n"),
            Self::Jpeg => content.starts_with(b"\xff\xd8\xff"),
            Self::Gif => content.starts_with(b"GIF87a") || content.starts_with(b"GIF89a"),
            Self::Webp => {
                content.len() >= 12 && &content[..4] == b"RIFF" && &content[8..12] == b"WEBP"
            }
            Self::Text | Self::Csv | Self::Json => std::str::from_utf8(content).is_ok(),
        }
    }
}

/// An attachment as uploaded, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInput {
    pub name: String,
    pub content_type: AttachmentType,
    pub content: Vec<u8>,
}

impl AttachmentInput {
    /// Checks an upload: a plain file name (no folders, nothing that hides how it reads),
    /// content within the size limit and of the type it claims. A name whose extension
    /// says another type gets its type's (`notes.html` sent as text is kept as
    /// `notes.html.txt`), so a file saved from the browser opens as what it is.
    pub fn parse(
        name: &str,
        content_type: AttachmentType,
        content: Vec<u8>,
    ) -> Result<Self, FieldError> {
        let mut name = bounded_text("name", name, 1, 200)?;
        if name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(FieldError::new(
                "name",
                "must be a file name, without folders",
            ));
        }
        if name.chars().any(|c| c.is_control() || is_bidi_control(c)) {
            return Err(FieldError::new(
                "name",
                "must not hold control or text-direction characters",
            ));
        }
        if AttachmentType::from_file_name(&name) != Some(content_type) {
            name = format!("{name}.{}", content_type.extension());
        }
        if content.is_empty() {
            return Err(FieldError::new("body", "must not be empty"));
        }
        if content.len() > MAX_ATTACHMENT_BYTES {
            return Err(FieldError::new("body", size_limit()));
        }
        if !content_type.matches(&content) {
            let message = if content_type.is_image() {
                format!("is not an image of type {content_type}")
            } else {
                format!("must be UTF-8 text to be sent as {content_type}")
            };
            return Err(FieldError::new("body", message));
        }
        Ok(Self {
            name,
            content_type,
            content,
        })
    }
}

/// The characters that reorder how text reads (`report\u{202e}gnp.exe` shows as
/// `reportexe.png`).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// What an upload over the limit is told.
pub fn size_limit() -> String {
    let max = i64::try_from(MAX_ATTACHMENT_BYTES).unwrap_or(i64::MAX);
    format!(
        "must be at most {} ({MAX_ATTACHMENT_BYTES} bytes)",
        readable_size(max)
    )
}

/// A size for people: `512 bytes`, `14.2 KiB`, `1.9 MiB`.
pub fn readable_size(bytes: i64) -> String {
    const KIB: i64 = 1024;
    #[allow(clippy::cast_precision_loss)]
    let scaled = |unit: i64| bytes as f64 / unit as f64;
    if bytes < KIB {
        format!("{bytes} bytes")
    } else if bytes < KIB * KIB {
        format!("{:.1} KiB", scaled(KIB))
    } else {
        format!("{:.1} MiB", scaled(KIB * KIB))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn the_type_comes_from_the_header_or_else_the_name() {
        assert_eq!(
            AttachmentType::from_media_type("Text/Plain; charset=utf-8"),
            Some(AttachmentType::Text)
        );
        assert_eq!(AttachmentType::from_media_type("image/svg+xml"), None);
        assert_eq!(AttachmentType::from_media_type("text/html"), None);
        assert_eq!(
            AttachmentType::from_file_name("edge-01.LOG"),
            Some(AttachmentType::Text)
        );
        assert_eq!(
            AttachmentType::from_file_name("graph.jpeg"),
            Some(AttachmentType::Jpeg)
        );
        assert_eq!(AttachmentType::from_file_name("evil.svg"), None);
        assert_eq!(AttachmentType::from_file_name("README"), None);
    }

    #[test]
    fn content_must_be_what_it_claims() {
        let png = AttachmentInput::parse("graph.png", AttachmentType::Png, PNG.to_vec()).unwrap();
        assert_eq!(png.name, "graph.png");
        let html = b"<script>alert(1)</script>".to_vec();
        let e = AttachmentInput::parse("graph.png", AttachmentType::Png, html.clone()).unwrap_err();
        assert_eq!(
            (e.field, e.message.as_str()),
            ("body", "is not an image of type image/png")
        );
        // Text is fine to keep: it is served as text/plain, which no browser runs.
        assert!(AttachmentInput::parse("page.txt", AttachmentType::Text, html).is_ok());
        let e = AttachmentInput::parse("core.log", AttachmentType::Text, vec![0xff, 0xfe, 0])
            .unwrap_err();
        assert_eq!(e.field, "body");
        let webp = b"RIFF\x10\0\0\0WEBPVP8 ".to_vec();
        assert!(AttachmentInput::parse("a.webp", AttachmentType::Webp, webp).is_ok());
    }

    #[test]
    fn a_name_says_what_the_file_is() {
        let kept = |name: &str, t| AttachmentInput::parse(name, t, b"x".to_vec()).unwrap().name;
        assert_eq!(kept("edge-01.log", AttachmentType::Text), "edge-01.log");
        assert_eq!(kept("notes.html", AttachmentType::Text), "notes.html.txt");
        assert_eq!(kept("README", AttachmentType::Text), "README.txt");
        assert_eq!(kept("rows.csv", AttachmentType::Csv), "rows.csv");
        let png = |name: &str| {
            AttachmentInput::parse(name, AttachmentType::Png, PNG.to_vec())
                .unwrap()
                .name
        };
        assert_eq!(png("graph.PNG"), "graph.PNG");
        assert_eq!(png("graph.exe"), "graph.exe.png");
    }

    #[test]
    fn size_and_name_are_bounded() {
        let big = vec![b'a'; MAX_ATTACHMENT_BYTES + 1];
        let e = AttachmentInput::parse("big.log", AttachmentType::Text, big).unwrap_err();
        assert_eq!(e.field, "body");
        let full = vec![b'a'; MAX_ATTACHMENT_BYTES];
        assert!(AttachmentInput::parse("full.log", AttachmentType::Text, full).is_ok());
        let e = AttachmentInput::parse("a.log", AttachmentType::Text, Vec::new()).unwrap_err();
        assert_eq!(e.field, "body");
        for bad in [
            "",
            "  ",
            "../etc/passwd",
            "logs\\a.log",
            "..",
            "a\nb.log",
            "tab\t.log",
            "report\u{202e}gol.exe",
        ] {
            let e = AttachmentInput::parse(bad, AttachmentType::Text, b"x".to_vec()).unwrap_err();
            assert_eq!(e.field, "name", "{bad:?}");
        }
    }

    #[test]
    fn sizes_read_plainly() {
        assert_eq!(readable_size(512), "512 bytes");
        assert_eq!(readable_size(14_540), "14.2 KiB");
        assert_eq!(readable_size(2 * 1024 * 1024), "2.0 MiB");
    }
}
