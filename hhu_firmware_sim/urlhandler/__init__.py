"""pyserial URL handlers of the simulator.

Register with ``serial.protocol_handler_packages.append("hhu_firmware_sim.urlhandler")``
(or ``hhu-sync --handler-package hhu_firmware_sim.urlhandler``) to open ``hhusim://``.
"""
