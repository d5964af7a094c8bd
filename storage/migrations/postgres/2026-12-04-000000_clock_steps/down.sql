DROP TABLE clock_steps;
DROP TABLE clock_state;
ALTER TABLE managers DROP COLUMN instance;
