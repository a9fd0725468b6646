-- PLACEHOLDER (written by the build/test plumbing, to be replaced by the demo
-- author): the order-fulfillment domain schema, its task functions and the
-- seed state machine go here.  demo/run_demo.sh loads this file with psql
-- (ON_ERROR_STOP) after CREATE EXTENSION orderflow.
\echo 'demo/order_fulfillment.sql is a placeholder: the order-fulfillment schema, tasks and state machine are not written yet'
