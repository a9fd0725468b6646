--
-- Map limits given by path: MaxConcurrencyPath, ToleratedFailureCountPath
-- and ToleratedFailurePercentagePath are read from the Map's input when the
-- Map starts, and behave like their literal forms.
--
SET client_min_messages = warning;
CREATE SCHEMA mlp;

CREATE PROCEDURE mlp.run(sm text, input jsonb,
    INOUT status text DEFAULT NULL, INOUT output jsonb DEFAULT NULL,
    INOUT error text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    id := orderflow.start_execution(sm, input);
    COMMIT;
    PERFORM orderflow.wait_for_execution(id, '60 s');
    SELECT d.status, d.output, d.error INTO status, output, error
      FROM orderflow.describe_execution(id) AS d;
END
$$;

-- an item with "bad": true fails its iteration
CREATE FUNCTION mlp.check(input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF (input ->> 'bad')::boolean THEN
        PERFORM orderflow.raise_error('Item.Bad', 'item ' || (input ->> 'n'));
    END IF;
    RETURN jsonb_build_object('n', input -> 'n', 'started', clock_timestamp());
END
$$;

SELECT orderflow.create_state_machine('mlp_limits', $j${
  "StartAt": "M",
  "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
    "MaxConcurrencyPath": "$.limits.concurrency",
    "ToleratedFailureCountPath": "$.limits.failures",
    "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "mlp.check", "End": true}}},
    "ResultSelector": {"n.$": "States.ArrayLength($)"},
    "End": true}}
}$j$);

-- one failure tolerated out of 1: SUCCEEDED, the failed item is in the result
CALL mlp.run('mlp_limits', '{"limits": {"concurrency": 1, "failures": 1},
  "items": [{"n": 0}, {"n": 1, "bad": true}, {"n": 2}]}');

-- two failures, one tolerated: States.ExceedToleratedFailureThreshold
CALL mlp.run('mlp_limits', '{"limits": {"concurrency": 2, "failures": 1},
  "items": [{"n": 0, "bad": true}, {"n": 1, "bad": true}, {"n": 2}]}');

-- MaxConcurrencyPath 1: the iterations ran one after another
SELECT bool_and(prev IS NULL OR started >= prev) AS one_at_a_time
  FROM (SELECT (output ->> 'started')::timestamptz AS started,
               lag(stopped_at) OVER (ORDER BY (output ->> 'started')::timestamptz) AS prev
          FROM orderflow.executions
         WHERE state_machine = 'mlp_limits' AND parent_id IS NOT NULL
           AND status = 'SUCCEEDED' AND input ->> 'n' IN ('0', '2')
           AND parent_id = (SELECT id FROM orderflow.executions
                             WHERE state_machine = 'mlp_limits' AND parent_id IS NULL
                             ORDER BY started_at LIMIT 1)) AS s;

SELECT orderflow.create_state_machine('mlp_percent', $j${
  "StartAt": "M",
  "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
    "ToleratedFailurePercentagePath": "$.pct",
    "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "mlp.check", "End": true}}},
    "ResultSelector": {"n.$": "States.ArrayLength($)"},
    "End": true}}
}$j$);

-- 1 of 4 failed = 25 %, within 50 %
CALL mlp.run('mlp_percent', '{"pct": 50, "items": [{"n": 0, "bad": true}, {"n": 1}, {"n": 2}, {"n": 3}]}');
-- 3 of 4 failed = 75 %, over 50 %
CALL mlp.run('mlp_percent', '{"pct": 50, "items": [{"n": 0, "bad": true}, {"n": 1, "bad": true}, {"n": 2, "bad": true}, {"n": 3}]}');
-- a path that selects no valid limit is States.Runtime
CALL mlp.run('mlp_percent', '{"pct": 150, "items": [{"n": 0}]}');
CALL mlp.run('mlp_limits', '{"limits": {"concurrency": -1, "failures": 0}, "items": [{"n": 0}]}');

-- nothing left running, no join counters left
SELECT count(*) AS running FROM orderflow.executions
 WHERE state_machine LIKE 'mlp\_%' AND status = 'RUNNING';

SELECT orderflow.delete_state_machine('mlp_limits', force => true);
SELECT orderflow.delete_state_machine('mlp_percent', force => true);
DROP SCHEMA mlp CASCADE;
