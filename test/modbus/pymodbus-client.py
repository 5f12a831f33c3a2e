"""Reads and writes typed Modbus values with pymodbus, for the interoperability test.

Usage: /usr/bin/python3 pymodbus-client.py JSON, where JSON contains port, unit, writes and reads.
Each write is {address, type, order, value}, each read {address, type, order}. Prints one JSON
object with the outcome of each write (null or the error text) and each decoded read value.
Written for Debian's python3-pymodbus 3.0, whose builder takes byteorder and wordorder.
"""
import json
import sys

from pymodbus.client import ModbusTcpClient
from pymodbus.constants import Endian
from pymodbus.payload import BinaryPayloadBuilder, BinaryPayloadDecoder

# Byte order within each register, then register (word) order, for each order name A B C D.
ORDERS = {
    "ABCD": (Endian.Big, Endian.Big),
    "CDAB": (Endian.Big, Endian.Little),
    "BADC": (Endian.Little, Endian.Big),
    "DCBA": (Endian.Little, Endian.Little),
}
ADD = {"int16": "add_16bit_int", "uint16": "add_16bit_uint", "int32": "add_32bit_int", "uint32": "add_32bit_uint", "float32": "add_32bit_float"}
DECODE = {"int16": "decode_16bit_int", "uint16": "decode_16bit_uint", "int32": "decode_32bit_int", "uint32": "decode_32bit_uint", "float32": "decode_32bit_float"}
WIDTH = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}


def encode(item):
    byteorder, wordorder = ORDERS[item["order"]]
    builder = BinaryPayloadBuilder(byteorder=byteorder, wordorder=wordorder)
    getattr(builder, ADD[item["type"]])(item["value"])
    return builder.to_registers()


def main():
    request = json.loads(sys.argv[1])
    unit = request["unit"]
    client = ModbusTcpClient("127.0.0.1", port=request["port"], timeout=5)
    if not client.connect():
        raise SystemExit("cannot connect to 127.0.0.1:%d" % request["port"])
    result = {"writes": [], "reads": []}
    try:
        for item in request.get("writes", []):
            registers = encode(item)
            if len(registers) == 1 and item.get("single", False):
                response = client.write_register(item["address"], registers[0], slave=unit)
            else:
                response = client.write_registers(item["address"], registers, slave=unit)
            result["writes"].append(str(response) if response.isError() else None)
        for item in request.get("reads", []):
            response = client.read_holding_registers(item["address"], WIDTH[item["type"]], slave=unit)
            if response.isError():
                result["reads"].append(str(response))
                continue
            byteorder, wordorder = ORDERS[item["order"]]
            decoder = BinaryPayloadDecoder.fromRegisters(response.registers, byteorder=byteorder, wordorder=wordorder)
            result["reads"].append(getattr(decoder, DECODE[item["type"]])())
    finally:
        client.close()
    print(json.dumps(result))


main()
