-- test/upgrade/catalog.sql: orderflow's objects in this database as seen by
-- the catalogs, one line per fact, sorted.  test/t/020_upgrade.pl runs it in
-- a fresh CREATE EXTENSION orderflow and in 0.1.0 + ALTER EXTENSION UPDATE
-- and fails on any line that is in one output and not the other.
-- (pg_dump --schema-only prints no extension member, so it cannot compare.)
WITH ext AS (
    SELECT oid, extname, extversion, extnamespace, extrelocatable, extconfig, extcondition
      FROM pg_catalog.pg_extension WHERE extname = 'orderflow'
), members AS (
    SELECT d.classid, d.objid, d.objsubid
      FROM pg_catalog.pg_depend AS d, ext
     WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid = ext.oid AND d.deptype = 'e'
), rels AS (
    SELECT c.oid, c.relname, c.relkind FROM pg_catalog.pg_class AS c
      JOIN members AS m ON m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                       AND m.objid = c.oid
), facts(kind, object, detail) AS (
    SELECT 'extension', e.extname,
           pg_catalog.format('version=%s schema=%s relocatable=%s',
                  e.extversion, e.extnamespace::pg_catalog.regnamespace, e.extrelocatable)
      FROM ext AS e
    UNION ALL
    -- which tables pg_dump dumps, with their conditions, by name
    SELECT 'config_dump', c.relname::text, COALESCE(u.cond, '<null>')
      FROM ext, unnest(ext.extconfig, ext.extcondition) AS u(cfg, cond)
      JOIN pg_catalog.pg_class AS c ON c.oid = u.cfg
    UNION ALL
    SELECT 'member', pg_catalog.pg_describe_object(m.classid, m.objid, m.objsubid), ''
      FROM members AS m
    UNION ALL
    SELECT 'schema', n.nspname::text,
           pg_catalog.format('owner=%s acl=%s', n.nspowner::pg_catalog.regrole, n.nspacl)
      FROM pg_catalog.pg_namespace AS n, ext WHERE n.oid = ext.extnamespace
    UNION ALL
    SELECT 'function', p.oid::pg_catalog.regprocedure::text,
           pg_catalog.format('args=(%s) returns=%s lang=%s volatile=%s strict=%s secdef=%s leakproof=%s parallel=%s cost=%s rows=%s config=%s owner=%s acl=%s bin=%s src_md5=%s',
                  pg_catalog.pg_get_function_arguments(p.oid),
                  pg_catalog.pg_get_function_result(p.oid), l.lanname, p.provolatile,
                  p.proisstrict, p.prosecdef, p.proleakproof, p.proparallel, p.procost,
                  p.prorows, p.proconfig, p.proowner::pg_catalog.regrole, p.proacl,
                  p.probin, pg_catalog.md5(p.prosrc))
      FROM pg_catalog.pg_proc AS p
      JOIN members AS m ON m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND m.objid = p.oid
      JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
    UNION ALL
    SELECT 'relation', r.relname::text,
           pg_catalog.format('kind=%s rls=%s force_rls=%s options=%s owner=%s acl=%s persistence=%s',
                  c.relkind, c.relrowsecurity, c.relforcerowsecurity, c.reloptions,
                  c.relowner::pg_catalog.regrole, c.relacl, c.relpersistence)
      FROM rels AS r JOIN pg_catalog.pg_class AS c ON c.oid = r.oid
    UNION ALL
    -- columns in their order (attnum among the live columns)
    SELECT 'column', r.relname || '.' || a.attname,
           pg_catalog.format('position=%s type=%s notnull=%s default=%s identity=%s generated=%s collation=%s acl=%s',
                  pg_catalog.row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
                  pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
                  a.attcollation, a.attacl)
      FROM rels AS r
      JOIN pg_catalog.pg_attribute AS a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_catalog.pg_attrdef AS ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    UNION ALL
    SELECT 'index', i.indexrelid::pg_catalog.regclass::text,
           pg_catalog.pg_get_indexdef(i.indexrelid) || pg_catalog.format(' options=%s', ic.reloptions)
      FROM rels AS r JOIN pg_catalog.pg_index AS i ON i.indrelid = r.oid
      JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
    UNION ALL
    SELECT 'constraint', r.relname || '.' || co.conname,
           pg_catalog.format('type=%s deferrable=%s validated=%s %s', co.contype, co.condeferrable,
                  co.convalidated, pg_catalog.pg_get_constraintdef(co.oid))
      FROM rels AS r JOIN pg_catalog.pg_constraint AS co ON co.conrelid = r.oid
    UNION ALL
    SELECT 'policy', r.relname || '.' || po.polname,
           pg_catalog.format('cmd=%s permissive=%s roles=%s using=%s check=%s', po.polcmd,
                  po.polpermissive, po.polroles::pg_catalog.regrole[],
                  pg_catalog.pg_get_expr(po.polqual, po.polrelid),
                  pg_catalog.pg_get_expr(po.polwithcheck, po.polrelid))
      FROM rels AS r JOIN pg_catalog.pg_policy AS po ON po.polrelid = r.oid
    UNION ALL
    SELECT 'view', r.relname::text, pg_catalog.pg_get_viewdef(r.oid)
      FROM rels AS r WHERE r.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'trigger', r.relname || '.' || t.tgname, pg_catalog.pg_get_triggerdef(t.oid)
      FROM rels AS r JOIN pg_catalog.pg_trigger AS t ON t.tgrelid = r.oid AND NOT t.tgisinternal
    UNION ALL
    SELECT 'sequence', r.relname::text,
           pg_catalog.format('type=%s start=%s inc=%s max=%s min=%s cache=%s cycle=%s',
                  s.seqtypid::pg_catalog.regtype, s.seqstart, s.seqincrement, s.seqmax,
                  s.seqmin, s.seqcache, s.seqcycle)
      FROM rels AS r JOIN pg_catalog.pg_sequence AS s ON s.seqrelid = r.oid
    UNION ALL
    SELECT 'comment', pg_catalog.pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description
      FROM pg_catalog.pg_description AS d
      JOIN members AS m ON m.classid = d.classoid AND m.objid = d.objoid
)
SELECT kind || ' ' || object || ': ' || detail FROM facts ORDER BY 1;
