-- Cinder's default_availability_zone: a volume requested without -AvailabilityZone goes to this
-- zone. Empty (the default) means "any zone". Operators set it when some hosts (a dedicated
-- zone, a lab's guest) should take only volumes that ask for them.
INSERT INTO bs.settings (key, value) VALUES ('default_availability_zone', '')
ON CONFLICT (key) DO NOTHING;
