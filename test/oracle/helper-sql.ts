// SQL the oracle installs in its private cluster (as superuser, once per database):
//  - oracle_h.prepare(plan): inside the statement's rolled-back transaction, creates the role
//    oracle_r and gives it exactly the plan's privileges (grants.ts);
//  - an event trigger that revokes EXECUTE from PUBLIC on every routine created outside pg_catalog,
//    so a call the analysis does not name is refused (PostgreSQL grants EXECUTE to PUBLIC by default);
//  - PUBLIC loses SELECT on pg_catalog / information_schema relations and EXECUTE on the built-ins
//    tollgate classifies as effects or dangerous: reading them then needs the access to be named too.

export const HELPER_SQL = String.raw`
CREATE SCHEMA oracle_h;
REVOKE ALL ON SCHEMA oracle_h FROM PUBLIC;

CREATE FUNCTION oracle_h.without_public(acl aclitem[]) RETURNS aclitem[] LANGUAGE sql IMMUTABLE
AS $f$ SELECT coalesce(array_agg(a), '{}') FROM unnest(acl) a WHERE a::text NOT LIKE '=%' $f$;

CREATE FUNCTION oracle_h.revoke_public() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog AS $f$
DECLARE r record;
BEGIN
  -- By the catalog row: procedures overloaded by OUT arguments have no unambiguous name to REVOKE on.
  UPDATE pg_proc p SET proacl = oracle_h.without_public(coalesce(p.proacl, acldefault('f', p.proowner)))
  WHERE p.oid IN (SELECT objid FROM pg_event_trigger_ddl_commands() WHERE classid = 'pg_proc'::regclass);
END $f$;
CREATE EVENT TRIGGER oracle_revoke_public ON ddl_command_end
  WHEN TAG IN ('CREATE FUNCTION', 'CREATE PROCEDURE', 'CREATE AGGREGATE', 'CREATE EXTENSION', 'ALTER EXTENSION')
  EXECUTE FUNCTION oracle_h.revoke_public();

CREATE FUNCTION oracle_h.grant_execute(fn oid) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
  UPDATE pg_proc SET proacl = array_append(coalesce(proacl, acldefault('f', proowner)),
                                           makeaclitem(to_regrole('oracle_r'), proowner, 'EXECUTE', false))
  WHERE oid = fn;
END $f$;

CREATE FUNCTION oracle_h.prepare(plan jsonb) RETURNS jsonb LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
DECLARE
  r jsonb; s text; rel oid; kind "char"; p text; fn oid; t oid; typ "char";
  definer_views int := 0; definer_fns int := 0; defaults int := 0; temp_shadow int := 0;
BEGIN
  CREATE ROLE oracle_r NOLOGIN;
  -- Routines made executable by PUBLIC again since they were created (a GRANT … TO PUBLIC).
  -- (pronamespace first: the ACL test is costly, and pg_catalog holds almost every row.)
  UPDATE pg_proc p SET proacl = oracle_h.without_public(coalesce(p.proacl, acldefault('f', p.proowner)))
  WHERE p.pronamespace <> 'pg_catalog'::regnamespace AND p.pronamespace <> 'information_schema'::regnamespace
    AND (p.proacl IS NULL OR p.proacl::text LIKE '{=%' OR p.proacl::text LIKE '%,=%');
  FOR s IN SELECT jsonb_array_elements_text(plan->'usage') LOOP
    IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = s) THEN
      EXECUTE format('GRANT USAGE ON SCHEMA %I TO oracle_r', s);
    END IF;
  END LOOP;
  FOR s IN SELECT jsonb_array_elements_text(plan->'create') LOOP
    IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = s) THEN
      EXECUTE format('GRANT CREATE ON SCHEMA %I TO oracle_r', s);
    END IF;
  END LOOP;
  IF (plan->>'createDb')::boolean THEN
    EXECUTE format('GRANT CREATE ON DATABASE %I TO oracle_r', current_database());
  END IF;
  -- The session's temporary relations come first in every search path: an unqualified name the
  -- analysis resolved to schema.name may be the temporary one (a known limit; counted).
  FOR r IN SELECT jsonb_array_elements(plan->'rels') LOOP
    SELECT c.oid INTO t FROM pg_class c WHERE c.relnamespace = pg_my_temp_schema() AND c.relname = r->>'n' AND r->>'s' <> 'pg_temp';
    IF t IS NOT NULL THEN
      temp_shadow := temp_shadow + 1;
      plan := jsonb_set(plan, '{rels}', (plan->'rels') || jsonb_build_array(jsonb_build_object('s', 'pg_temp', 'n', r->>'n', 'p', r->'p')));
    END IF;
  END LOOP;
  FOR r IN SELECT jsonb_array_elements(plan->'own') LOOP
    SELECT c.oid INTO t FROM pg_class c WHERE c.relnamespace = pg_my_temp_schema() AND c.relname = r->>'n' AND r->>'s' <> 'pg_temp' AND r->>'t' = 'any';
    IF t IS NOT NULL THEN
      temp_shadow := temp_shadow + 1;
      plan := jsonb_set(plan, '{own}', (plan->'own') || jsonb_build_array(jsonb_build_object('s', 'pg_temp', 'n', r->>'n', 't', 'any')));
    END IF;
  END LOOP;
  FOR r IN SELECT jsonb_array_elements(plan->'rels') LOOP
    rel := to_regclass(format('%I.%I', r->>'s', r->>'n'));
    CONTINUE WHEN rel IS NULL;
    SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = rel;
    FOR p IN SELECT jsonb_array_elements_text(r->'p') LOOP
      IF kind = 'S' THEN
        EXECUTE format('GRANT %s ON SEQUENCE %s TO oracle_r', CASE WHEN p = 'SELECT' THEN 'SELECT' ELSE 'UPDATE' END, rel::regclass);
      ELSIF kind IN ('r', 'p', 'v', 'm', 'f') THEN
        EXECUTE format('GRANT %s ON TABLE %s TO oracle_r', p, rel::regclass);
      END IF;
    END LOOP;
    IF kind = 'v' AND NOT EXISTS (SELECT 1 FROM pg_class c, unnest(c.reloptions) o
                                  WHERE c.oid = rel AND o IN ('security_invoker=true', 'security_invoker=on', 'security_invoker=1', 'security_invoker=yes')) THEN
      definer_views := definer_views + 1;
    END IF;
  END LOOP;
  FOR r IN SELECT jsonb_array_elements(plan->'fns') LOOP
    FOR fn IN SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE (n.nspname = r->>'s' OR (r->>'s' = 'pg_temp' AND n.oid = pg_my_temp_schema())) AND p.proname = r->>'n'
              UNION
              SELECT o.oprcode FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
              WHERE n.nspname = r->>'s' AND o.oprname = r->>'n' AND o.oprcode <> 0 LOOP
      PERFORM oracle_h.grant_execute(fn);
      IF (SELECT prosecdef FROM pg_proc WHERE oid = fn) THEN definer_fns := definer_fns + 1; END IF;
    END LOOP;
  END LOOP;
  FOR s IN SELECT jsonb_array_elements_text(plan->'params') LOOP
    CONTINUE WHEN s !~ '^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$';
    BEGIN
      EXECUTE format('GRANT SET ON PARAMETER %s TO oracle_r', s);
    EXCEPTION WHEN others THEN NULL; -- not a parameter
    END;
  END LOOP;
  FOR r IN SELECT jsonb_array_elements(plan->'own') LOOP
    IF r->>'t' = 'schema' THEN
      IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = r->>'n') THEN
        EXECUTE format('ALTER SCHEMA %I OWNER TO oracle_r', r->>'n');
      END IF;
      CONTINUE;
    END IF;
    IF r->>'t' = 'type' THEN
      t := to_regtype(format('%I.%I', r->>'s', r->>'n'));
      IF t IS NOT NULL THEN
        SELECT typtype INTO typ FROM pg_type WHERE oid = t;
        BEGIN
          EXECUTE format('ALTER %s %s OWNER TO oracle_r', CASE WHEN typ = 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t::regtype);
        EXCEPTION WHEN others THEN NULL;
        END;
      END IF;
      CONTINUE;
    END IF;
    rel := to_regclass(format('%I.%I', r->>'s', r->>'n'));
    IF rel IS NOT NULL THEN
      SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = rel;
      IF kind IN ('r', 'p', 'v', 'm', 'f', 'S') THEN
        EXECUTE format('ALTER %s %s OWNER TO oracle_r',
          CASE kind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
          rel::regclass);
      END IF;
    END IF;
    FOR fn IN SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = r->>'s' AND p.proname = r->>'n' LOOP
      BEGIN
        EXECUTE format('ALTER ROUTINE %s OWNER TO oracle_r', fn::regprocedure);
      EXCEPTION WHEN others THEN NULL; -- an ambiguous name (overloaded by OUT arguments)
      END;
    END LOOP;
  END LOOP;
  -- Column defaults of written tables advance sequences and call functions as the writer: granted
  -- (tollgate does not name them; the oracle counts the statements that needed this).
  FOR rel IN SELECT to_regclass(format('%I.%I', w->>'s', w->>'n')) FROM jsonb_array_elements(plan->'writes') w
             UNION SELECT c.oid FROM pg_class c, jsonb_array_elements(plan->'writes') w
                   WHERE c.relnamespace = pg_my_temp_schema() AND c.relname = w->>'n' LOOP
    CONTINUE WHEN rel IS NULL;
    FOR t, kind IN SELECT DISTINCT d.refobjid, CASE WHEN d.refclassid = 'pg_class'::regclass THEN 'S' ELSE 'f' END
                   FROM pg_attrdef ad JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
                   WHERE ad.adrelid = rel AND d.refclassid IN ('pg_class'::regclass, 'pg_proc'::regclass) LOOP
      IF kind = 'S' THEN
        IF (SELECT relkind FROM pg_class WHERE oid = t) = 'S' THEN
          EXECUTE format('GRANT USAGE ON SEQUENCE %s TO oracle_r', t::regclass);
          EXECUTE 'GRANT EXECUTE ON FUNCTION pg_catalog.nextval(regclass) TO oracle_r';
          defaults := defaults + 1;
        END IF;
      ELSE
        PERFORM oracle_h.grant_execute(t);
        defaults := defaults + 1;
      END IF;
    END LOOP;
  END LOOP;
  -- Built-ins a written table's defaults (its columns' or their domains') call: pinned, so no
  -- dependency records them; found by name in the expression's text.
  FOR fn IN SELECT DISTINCT p.oid
            FROM jsonb_array_elements(plan->'writes') w
            JOIN pg_class c ON c.relname = w->>'n' AND (c.relnamespace = pg_my_temp_schema() OR c.oid = to_regclass(format('%I.%I', w->>'s', w->>'n')))
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
            LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
            LEFT JOIN pg_type ty ON ty.oid = a.atttypid AND ty.typdefaultbin IS NOT NULL
            CROSS JOIN LATERAL regexp_matches(coalesce(pg_get_expr(ad.adbin, ad.adrelid), '') || ' ' || coalesce(ty.typdefault, ''), '([a-z_][a-z0-9_]*)\(', 'g') m
            JOIN pg_proc p ON p.proname = m[1] AND p.pronamespace = 'pg_catalog'::regnamespace LOOP
    PERFORM oracle_h.grant_execute(fn);
  END LOOP;
  RETURN jsonb_build_object('definerViews', definer_views, 'definerFns', definer_fns, 'defaults', defaults, 'tempShadow', temp_shadow);
END $f$;
REVOKE ALL ON FUNCTION oracle_h.prepare(jsonb) FROM PUBLIC;
`;

/** Revokes PUBLIC's SELECT on catalog relations and EXECUTE on the named built-ins (all overloads). */
export function revokeBuiltinsSql(effectNames: string[]): string {
  const names = effectNames.map((n) => `'${n.replace(/'/g, "''")}'`).join(',');
  return String.raw`
DO $d$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname IN ('pg_catalog', 'information_schema') AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
             AND EXISTS (SELECT 1 FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a WHERE a.grantee = 0) LOOP
    EXECUTE format('REVOKE ALL ON TABLE %s FROM PUBLIC', r.rel);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p
           WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname IN (${names || "''"})
             AND EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                         WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') LOOP
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', r.fn);
  END LOOP;
END $d$;
`;
}
