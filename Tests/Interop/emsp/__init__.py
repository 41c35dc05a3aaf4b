"""An independent eMSP for the OCPI interop tests: its own HTTP server (versions, details, credentials, and
receivers), its own client, and validators written from the OCPI 2.2.1 specification's field tables. It shares no
code with Voltaic."""
