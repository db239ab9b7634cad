//! End-to-end tests: the real server on a loopback port, real databases, the real binary,
//! and a real headless browser. One test binary, so the crate links once.

mod helpers;

mod accounts;
mod action_items;
mod alertmanager;
mod alerts;
mod api;
mod apply;
mod attachments;
mod authorization;
mod authorization_pages;
mod backup;
mod big;
mod browser;
mod cli;
mod communication;
mod contract;
mod coordination;
pub mod crash;
mod credentials;
mod drills;
mod failover;
mod forge;
mod idempotency;
mod investigation;
mod maintenance;
mod metrics;
mod outage;
mod paging;
mod paging_stops;
mod pd_client;
mod playbooks;
mod private;
mod readme;
mod reports;
mod response_metrics;
mod retention;
mod review;
mod serve;
mod sinks;
mod status_page;
mod status_subscribers;
mod subscriptions;
mod ui;
mod web;
