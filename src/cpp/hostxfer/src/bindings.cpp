// Python bindings of the transfer code (transfer.hpp): the module dynamo_hostxfer._native.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "transfer.hpp"

namespace py = pybind11;
using hostxfer::Agent;
using hostxfer::Region;
using hostxfer::TransferStats;

PYBIND11_MODULE(_native, m) {
  m.doc() = "Host-memory transfers between agents in separate processes (shared memory).";
  py::class_<Region, std::shared_ptr<Region>>(m, "Region")
      .def_property_readonly("name", &Region::name)
      .def_property_readonly("size", &Region::size)
      .def("fill", &Region::fill, py::arg("seed"))
      .def("checksum", &Region::checksum);
  py::class_<TransferStats>(m, "TransferStats")
      .def_readonly("bytes_per_op", &TransferStats::bytes_per_op)
      .def_readonly("iterations", &TransferStats::iterations)
      .def_readonly("total_seconds", &TransferStats::total_seconds)
      .def_readonly("op_seconds", &TransferStats::op_seconds);
  py::class_<Agent>(m, "Agent")
      .def(py::init<std::string>(), py::arg("name"))
      .def_property_readonly("name", &Agent::name)
      .def("register_region", &Agent::register_region, py::arg("region_name"), py::arg("size"))
      .def_static("metadata", &Agent::metadata, py::arg("region"))
      .def("load_remote", &Agent::load_remote, py::arg("metadata"))
      // The copies run without the GIL: other Python threads go on meanwhile.
      .def("transfer", &Agent::transfer, py::arg("op"), py::arg("local"), py::arg("remote"),
           py::arg("bytes"), py::arg("iterations") = 1, py::call_guard<py::gil_scoped_release>());
}
