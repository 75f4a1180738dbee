-- The SQLite schema of banditbot 0.1.0 (schema version 1, before allocation periods):
-- the upgrade test opens a database made with it.
CREATE TABLE IF NOT EXISTS meta (
    experiment TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS arm_stats (
    experiment TEXT NOT NULL, generation INTEGER NOT NULL, scope TEXT NOT NULL,
    arm TEXT NOT NULL,
    pulls REAL NOT NULL DEFAULT 0, n REAL NOT NULL DEFAULT 0,
    total REAL NOT NULL DEFAULT 0, total_sq REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, generation, scope, arm)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS extra_stats (
    experiment TEXT NOT NULL, generation INTEGER NOT NULL, scope TEXT NOT NULL,
    arm TEXT NOT NULL, field TEXT NOT NULL, value REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, generation, scope, arm, field)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS decisions (
    id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL, generation INTEGER NOT NULL, scope TEXT NOT NULL,
    arm TEXT NOT NULL, propensity REAL NOT NULL,
    arms TEXT NOT NULL, probabilities BLOB NOT NULL,
    policy TEXT NOT NULL, subject TEXT NOT NULL, context TEXT,
    kind TEXT NOT NULL, created_at REAL NOT NULL,
    reward REAL, rewarded_at REAL, weight REAL NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS decisions_by_time ON decisions (experiment, created_at, id);
-- the statistics are the fold of the log, kept by the database itself: logging a decision
-- adds a pull (and its reward, for history rows), setting a reward adds it, in the same
-- statement -- so one INSERT or UPDATE is the whole atomic unit
CREATE TRIGGER IF NOT EXISTS decisions_fold_insert AFTER INSERT ON decisions BEGIN
    INSERT INTO arm_stats (experiment, generation, scope, arm, pulls, n, total, total_sq)
    VALUES (NEW.experiment, NEW.generation, NEW.scope, NEW.arm, 1,
            iif(NEW.reward IS NULL, 0, NEW.weight),
            coalesce(NEW.weight * NEW.reward, 0),
            coalesce(NEW.weight * NEW.reward * NEW.reward, 0))
    ON CONFLICT DO UPDATE SET pulls = pulls + excluded.pulls, n = n + excluded.n,
        total = total + excluded.total, total_sq = total_sq + excluded.total_sq;
END;
CREATE TRIGGER IF NOT EXISTS decisions_fold_reward AFTER UPDATE OF reward ON decisions
WHEN OLD.reward IS NULL AND NEW.reward IS NOT NULL BEGIN
    INSERT INTO arm_stats (experiment, generation, scope, arm, pulls, n, total, total_sq)
    VALUES (NEW.experiment, NEW.generation, NEW.scope, NEW.arm, 0, NEW.weight,
            NEW.weight * NEW.reward, NEW.weight * NEW.reward * NEW.reward)
    ON CONFLICT DO UPDATE SET n = n + excluded.n, total = total + excluded.total,
        total_sq = total_sq + excluded.total_sq;
END;
CREATE TABLE IF NOT EXISTS admin_log (
    at REAL NOT NULL, actor TEXT NOT NULL, experiment TEXT NOT NULL,
    action TEXT NOT NULL, details TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS documents (
    name TEXT PRIMARY KEY, body TEXT NOT NULL, version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (
    key TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (key, name)
) WITHOUT ROWID;
