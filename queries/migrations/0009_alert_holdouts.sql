-- Migration 9: alerts of customers drawn into their rule's holdout, recorded to measure the
-- rule's outcome but never delivered nor shown in the inbox.
ALTER TABLE alerts ADD COLUMN holdout BOOLEAN DEFAULT false;
