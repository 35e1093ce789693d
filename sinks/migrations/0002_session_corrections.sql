-- Disorder-proof sessions (issue 4): seqNo completeness and explicit corrections.
ALTER TABLE {database}.sessions
    ADD COLUMN IF NOT EXISTS seq_complete Nullable(Bool) AFTER flags,
    ADD COLUMN IF NOT EXISTS missing_seq Array(UInt32) AFTER seq_complete,
    ADD COLUMN IF NOT EXISTS correction Bool DEFAULT false AFTER missing_seq;
