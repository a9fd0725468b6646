--
-- sync_variables: start_sync_execution keeps workflow variables inside
-- Parallel branches and Map iterations (its tree claim once returned one
-- column fewer than the reader took: variables read as NULL and the branch
-- failed with States.Runtime "could not find a value in the variables").
-- Every claim now returns storage.c's one OF_CLAIMED_COLUMNS list, read
-- through storage.h's Anum_claimed_* names, and OfExecQuery refuses a
-- statement whose column count differs from its declared Natts_.
--
SELECT orderflow.create_state_machine('sync_vars', '{"StartAt": "Set", "States": {
  "Set": {"Type": "Pass", "Assign": {"x": 42}, "Next": "Par"},
  "Par": {"Type": "Parallel", "Branches": [
      {"StartAt": "B", "States": {"B": {"Type": "Pass", "Parameters": {"x.$": "$x"}, "End": true}}}],
    "Next": "Map"},
  "Map": {"Type": "Map", "ItemsPath": "$",
    "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "Parameters": {"seen.$": "$x"}, "End": true}}},
    "End": true}}}');
SELECT orderflow.start_sync_execution('sync_vars', '{}');
SELECT orderflow.start_execution('sync_vars', '{}', 'async') IS NOT NULL AS started;
SELECT orderflow.wait_for_execution(id, '30 s') FROM orderflow.executions WHERE name = 'async';
SELECT output FROM orderflow.executions WHERE name = 'async';
SELECT orderflow.delete_state_machine('sync_vars', true);
