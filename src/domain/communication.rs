//! Communicating during an incident: who an update is for and which phase it speaks of.

closed_set! {
    /// Who a status update is written for.
    pub enum Audience for "audience" {
        /// Customers, on the status page and its subscriptions.
        Public = "public",
        /// Management and other internal people following the incident.
        Stakeholders = "stakeholders",
        /// The people working the incident.
        Responders = "responders",
    }
}

closed_set! {
    /// The phase of the incident an update speaks of (Statuspage's incident statuses, plus a
    /// plain update).
    pub enum Phase for "phase" {
        Investigating = "investigating",
        Identified = "identified",
        Monitoring = "monitoring",
        Resolved = "resolved",
        Update = "update",
    }
}
