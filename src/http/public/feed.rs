//! The status page as Atom 1.0 feeds (RFC 4287): one entry per incident, its public updates
//! as the content, newest first; the page's feed has every incident, a component's feed those
//! whose updates named that component.

use std::fmt::Write;

use crate::app::{ComponentState, StatusSnapshot};
use crate::domain::status::PublicIncident;
use crate::markup::escape;

/// The most recent incidents the feed carries.
const ENTRIES: usize = 50;

/// The feed of the whole page, or of one component.
pub fn atom(s: &StatusSnapshot, component: Option<&ComponentState>) -> String {
    let url = escape(&s.brand.url);
    let (id, title, alternate, feed) = match component {
        None => (
            url.clone(),
            escape(&s.brand.name),
            url.clone(),
            format!("{url}/feed.atom"),
        ),
        Some(c) => (
            format!("{url}/components/{}", c.record.id),
            escape(&format!("{}: {}", s.brand.name, c.record.name)),
            format!("{url}#component-{}", c.record.id),
            format!("{url}/components/{}/feed.atom", c.record.id),
        ),
    };
    let name = escape(&s.brand.name);
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"en\">\n\
         <id>{id}</id>\n<title>{title}</title>\n<updated>{}</updated>\n\
         <link rel=\"alternate\" type=\"text/html\" href=\"{alternate}\"/>\n\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"{feed}\"/>\n\
         <author><name>{name}</name></author>\n",
        s.updated_at
    );
    let about =
        |i: &&PublicIncident| component.is_none_or(|c| i.named_components().contains(&c.record.id));
    for i in s.incidents.iter().filter(about).take(ENTRIES) {
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
