DROP TABLE license;
DROP TABLE managers;
DROP TABLE usage_history;
DROP TABLE grants;
DROP TABLE pools;
