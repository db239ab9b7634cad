//! The status page as an Atom 1.0 feed (RFC 4287): one entry per incident, its public
//! updates as the content, newest first.

use std::fmt::Write;

use crate::app::StatusSnapshot;
use crate::markup::escape;

/// The most recent incidents the feed carries.
const ENTRIES: usize = 50;

pub fn atom(s: &StatusSnapshot) -> String {
    let url = escape(&s.brand.url);
    let name = escape(&s.brand.name);
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"en\">\n\
         <id>{url}</id>\n<title>{name}</title>\n<updated>{}</updated>\n\
         <link rel=\"alternate\" type=\"text/html\" href=\"{url}\"/>\n\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"{url}/feed.atom\"/>\n\
         <author><name>{name}</name></author>\n",
        s.updated_at
    );
    for i in s.incidents.iter().take(ENTRIES) {
        let link = format!("{url}/incidents/{}", i.id);
        let mut content = String::new();
        for step in i.story() {
            let u = step.update;
            let corrected = if u.corrected_at.is_some() {
                " (corrected)"
            } else {
                ""
            };
            let _ = write!(
                content,
                "<p><strong>{}</strong>{corrected} · {}<br>{}</p>",
                escape(step.phase.label()),
                u.published_at.strftime("%Y-%m-%d %H:%M UTC"),
                escape(&u.text).replace('\n', "<br>"),
            );
        }
        let published = i
            .updates
            .iter()
            .map(|u| u.published_at)
            .min()
            .unwrap_or(i.declared_at);
        let _ = write!(
            out,
            "<entry>\n<id>{link}</id>\n<title>{} ({})</title>\n<published>{published}</published>\n\
             <updated>{}</updated>\n<link rel=\"alternate\" type=\"text/html\" href=\"{link}\"/>\n\
             <content type=\"html\">{}</content>\n</entry>\n",
            escape(&i.title),
            i.phase().label(),
            i.updated_at(),
            escape(&content),
        );
    }
    out.push_str("</feed>\n");
    out
}
