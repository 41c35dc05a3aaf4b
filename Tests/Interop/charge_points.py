"""Charge points built on the third-party `ocpp` package: they answer every CSMS-initiated action
with a canned, schema-valid response and record what they were asked."""
import asyncio
import base64
import contextlib
import datetime

from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as r16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as r201
from websockets.asyncio.client import connect


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


class Station16(ChargePoint16):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received = []

    def _got(self, action, kwargs):
        self.received.append((action, kwargs))

    @on("ChangeAvailability")
    def change_availability(self, **kw):
        self._got("ChangeAvailability", kw)
        return r16.ChangeAvailability(status="Accepted")

    @on("ChangeConfiguration")
    def change_configuration(self, **kw):
        self._got("ChangeConfiguration", kw)
        return r16.ChangeConfiguration(status="Accepted")

    @on("ClearCache")
    def clear_cache(self, **kw):
        self._got("ClearCache", kw)
        return r16.ClearCache(status="Accepted")

    @on("DataTransfer")
    def data_transfer(self, **kw):
        self._got("DataTransfer", kw)
        return r16.DataTransfer(status="Accepted", data="pong")

    @on("GetConfiguration")
    def get_configuration(self, **kw):
        self._got("GetConfiguration", kw)
        return r16.GetConfiguration(configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}])

    @on("RemoteStartTransaction")
    def remote_start(self, **kw):
        self._got("RemoteStartTransaction", kw)
        return r16.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def remote_stop(self, **kw):
        self._got("RemoteStopTransaction", kw)
        return r16.RemoteStopTransaction(status="Accepted")

    @on("Reset")
    def reset(self, **kw):
        self._got("Reset", kw)
        return r16.Reset(status="Accepted")

    @on("UnlockConnector")
    def unlock(self, **kw):
        self._got("UnlockConnector", kw)
        return r16.UnlockConnector(status="Unlocked")

    @on("TriggerMessage")
    def trigger(self, **kw):
        self._got("TriggerMessage", kw)
        return r16.TriggerMessage(status="Accepted")

    @on("GetLocalListVersion")
    def get_local_list_version(self, **kw):
        self._got("GetLocalListVersion", kw)
        return r16.GetLocalListVersion(list_version=3)

    @on("SendLocalList")
    def send_local_list(self, **kw):
        self._got("SendLocalList", kw)
        return r16.SendLocalList(status="Accepted")

    @on("ReserveNow")
    def reserve_now(self, **kw):
        self._got("ReserveNow", kw)
        return r16.ReserveNow(status="Accepted")

    @on("CancelReservation")
    def cancel_reservation(self, **kw):
        self._got("CancelReservation", kw)
        return r16.CancelReservation(status="Accepted")


class Station201(ChargePoint201):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received = []

    def _got(self, action, kwargs):
        self.received.append((action, kwargs))

    @on("RequestStartTransaction")
    def request_start(self, **kw):
        self._got("RequestStartTransaction", kw)
        return r201.RequestStartTransaction(status="Accepted", transaction_id="remote-1")

    @on("RequestStopTransaction")
    def request_stop(self, **kw):
        self._got("RequestStopTransaction", kw)
        return r201.RequestStopTransaction(status="Accepted")

    @on("Reset")
    def reset(self, **kw):
        self._got("Reset", kw)
        return r201.Reset(status="Accepted")

    @on("ChangeAvailability")
    def change_availability(self, **kw):
        self._got("ChangeAvailability", kw)
        return r201.ChangeAvailability(status="Accepted")

    @on("UnlockConnector")
    def unlock(self, **kw):
        self._got("UnlockConnector", kw)
        return r201.UnlockConnector(status="Unlocked")

    @on("TriggerMessage")
    def trigger(self, **kw):
        self._got("TriggerMessage", kw)
        return r201.TriggerMessage(status="Accepted")

    @on("GetVariables")
    def get_variables(self, get_variable_data, **kw):
        self._got("GetVariables", {"get_variable_data": get_variable_data, **kw})
        return r201.GetVariables(
            get_variable_result=[
                {"attribute_status": "Accepted", "component": d["component"], "variable": d["variable"], "attribute_value": "42"}
                for d in get_variable_data
            ]
        )

    @on("SetVariables")
    def set_variables(self, set_variable_data, **kw):
        self._got("SetVariables", {"set_variable_data": set_variable_data, **kw})
        return r201.SetVariables(
            set_variable_result=[
                {"attribute_status": "Accepted", "component": d["component"], "variable": d["variable"]} for d in set_variable_data
            ]
        )

    @on("GetBaseReport")
    def get_base_report(self, **kw):
        self._got("GetBaseReport", kw)
        return r201.GetBaseReport(status="Accepted")

    @on("ClearCache")
    def clear_cache(self, **kw):
        self._got("ClearCache", kw)
        return r201.ClearCache(status="Accepted")

    @on("GetTransactionStatus")
    def get_transaction_status(self, **kw):
        self._got("GetTransactionStatus", kw)
        return r201.GetTransactionStatus(messages_in_queue=False, ongoing_indicator=True)

    @on("ReserveNow")
    def reserve_now(self, **kw):
        self._got("ReserveNow", kw)
        return r201.ReserveNow(status="Accepted")

    @on("CancelReservation")
    def cancel_reservation(self, **kw):
        self._got("CancelReservation", kw)
        return r201.CancelReservation(status="Accepted")

    @on("SendLocalList")
    def send_local_list(self, **kw):
        self._got("SendLocalList", kw)
        return r201.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    def get_local_list_version(self, **kw):
        self._got("GetLocalListVersion", kw)
        return r201.GetLocalListVersion(version_number=7)

    @on("DataTransfer")
    def data_transfer(self, **kw):
        self._got("DataTransfer", kw)
        return r201.DataTransfer(status="Accepted")


def basic_auth(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@contextlib.asynccontextmanager
async def connected(server, station_id, version="1.6", headers=None, cls=None):
    """Connects a charge point of `version` (of class `cls`, by default the version's test station) and runs its
    message loop for the duration."""
    subprotocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    cls = cls or (Station16 if version == "1.6" else Station201)
    async with connect(f"{server.ws_url}/{station_id}", subprotocols=[subprotocol], additional_headers=headers or {}) as ws:
        cp = cls(station_id, ws, response_timeout=15)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def run(coro):
    return asyncio.run(coro)


async def api(server, method, path, body=None):
    """The admin API from inside an event loop (the charge point must keep answering meanwhile)."""
    return await asyncio.to_thread(server.api, method, path, body)


async def send_every_command(server, station, cp, commands, version):
    """Sends each (action → (payload, expected answer)) through the admin API to the connected `cp` and
    checks that the station received it and its exact answer came back."""
    for action, (payload, expected) in commands.items():
        status, body = await api(server, "POST", f"/stations/{station}/commands/{action}", payload)
        assert status == 200, (action, body)
        assert body["response"] == expected, action
        assert body["ocppVersion"] == version
        assert cp.received[-1][0] == action
