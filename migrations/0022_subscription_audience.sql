-- Which internal audience a subscription hears: the updates written for stakeholders, or
-- those written for responders (a team's chat channel, say). Public updates reach readers
-- through the status page's own subscriptions.
ALTER TABLE update_subscriptions ADD COLUMN audience TEXT NOT NULL DEFAULT 'stakeholders';
