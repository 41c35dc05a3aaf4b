-- OCPI charging profiles (Voltaic the Receiver) are kept and sent as the commands are: a row per request for the node
-- that holds the station, its outcome POSTed to the partner's response_url by the push queue. Their outcome is not a
-- CommandResult but the module's own object (ChargingProfileResult, ActiveChargingProfileResult, ClearProfileResult),
-- kept whole in result_body and sent as kept.
ALTER TABLE ocpi_commands DROP CONSTRAINT ocpi_commands_command_check,
    ADD CONSTRAINT ocpi_commands_command_check CHECK (command IN ('START_SESSION', 'STOP_SESSION', 'RESERVE_NOW', 'CANCEL_RESERVATION',
        'UNLOCK_CONNECTOR', 'SET_CHARGING_PROFILE', 'GET_ACTIVE_CHARGING_PROFILE', 'CLEAR_CHARGING_PROFILE'));
ALTER TABLE ocpi_commands DROP CONSTRAINT ocpi_commands_result_check,
    ADD CONSTRAINT ocpi_commands_result_check CHECK (result IN ('ACCEPTED', 'CANCELED_RESERVATION', 'EVSE_OCCUPIED', 'EVSE_INOPERATIVE', 'FAILED',
        'NOT_SUPPORTED', 'REJECTED', 'TIMEOUT', 'UNKNOWN_RESERVATION', 'UNKNOWN'));
ALTER TABLE ocpi_commands ADD COLUMN result_body jsonb;
