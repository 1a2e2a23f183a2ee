-- BlockStore schema, version 13 (issue 13, "Also"): an availability zone that no volume host serves
-- is refused when the volume is requested (Cinder answers 400), instead of being accepted and
-- failing at placement. A zone counts as served while a registered volume service is in it, up or
-- not: a host that is down for a moment still fails the volume later with its reason.
CREATE FUNCTION bs.require_served_zone(p_zone text) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_zone IS NULL OR EXISTS (SELECT 1 FROM bs.services s WHERE s.service = 'volume' AND s.zone = p_zone) THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'BSZ01', DETAIL = p_zone,
        MESSAGE = format('No volume host serves availability zone %s (zones served: %s). Nothing was requested.', p_zone,
            coalesce((SELECT string_agg(DISTINCT s.zone, ', ' ORDER BY s.zone) FROM bs.services s WHERE s.service = 'volume'), 'none'));
END $$;
