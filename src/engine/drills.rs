//! Plays drills' scripts: each event due is played into its drill's incident, under the
//! incident's lock, in one transaction with the evidence it leaves (an alert, a user report,
//! a change; a note leaves only its timeline line) and its `drill_event_played` entry, so an
//! event plays once whichever instance gets there first. A drill resolved before its script
//! ends plays no more (reopened, it picks up where it stopped).

use crate::clock::Clock;
use crate::domain::investigation::EvidenceInput;
use crate::domain::timeline::EntryData;
use crate::store::{Result, Store, StoreError};

/// Plays every event due by now; answers the incidents it played into.
pub async fn play_due(store: &Store, clock: &dyn Clock) -> Result<Vec<i64>> {
    let mut played = Vec::new();
    for incident_id in store.drills_due(clock.now()).await? {
        let now = clock.now();
        let mut tx = match store.begin_investigation(incident_id).await {
            Ok(tx) => tx,
            Err(StoreError::NotFound) => continue,
            Err(e) => return Err(e),
        };
        if !tx.incident.status.is_active() {
            continue;
        }
        let (started_by, events) = tx.due_drill_events(now).await?;
        let Some(author) = started_by.filter(|_| !events.is_empty()) else {
            continue;
        };
        let mut entries = Vec::with_capacity(events.len());
        for event in &events {
            let evidence_id = match event.kind.evidence() {
                Some(kind) => {
                    let input = EvidenceInput {
                        kind,
                        summary: Some(event.text.clone()),
                        excerpt: None,
                        source_url: None,
                        observed_at: Some(event.due_at),
                        alert_id: None,
                        change_id: None,
                        pinned: false,
                    };
                    let evidence = tx
                        .add_evidence(&input, &event.text, Some(event.due_at), author, now)
                        .await?;
                    Some(evidence.id)
                }
                None => None,
            };
            tx.drill_event_played(event.id, now).await?;
            entries.push(EntryData::DrillEventPlayed {
                event_kind: event.kind,
                text: event.text.clone(),
                evidence_id,
            });
        }
        tx.commit(author, now, &entries).await?;
        played.push(incident_id);
    }
    Ok(played)
}
