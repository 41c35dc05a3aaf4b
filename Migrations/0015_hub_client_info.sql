-- What hubs tell Voltaic about the parties behind them (OCPI 2.2.1 hubclientinfo, Voltaic the Receiver), per hub.
CREATE TABLE ocpi_client_info (
    partner_id   bigint NOT NULL REFERENCES ocpi_partners (id),
    country_code text NOT NULL CHECK (country_code ~ '^[A-Z0-9]{2}$'),
    party_id     text NOT NULL CHECK (party_id ~ '^[A-Z0-9]{3}$'),
    role         text NOT NULL CHECK (role IN ('CPO', 'EMSP', 'HUB', 'NAP', 'NSP', 'OTHER', 'SCSP')),
    status       text NOT NULL CHECK (status IN ('CONNECTED', 'OFFLINE', 'PLANNED', 'SUSPENDED')),
    last_updated timestamptz NOT NULL,
    PRIMARY KEY (partner_id, country_code, party_id)
);
