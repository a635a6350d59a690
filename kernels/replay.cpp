// FlashSign's native launcher: replays recorded kernel plans from C++ (driven by kernels/replay.py).
//
// Python records, once per case, what a FlashSign forward and backward do: allocate outputs and
// launch compiled Triton kernels with fixed scalar arguments. Replaying that here keeps
// Python, Triton's launcher and a Python autograd node off the call path: at around a thousand keys
// they cost more host time than the kernels take on the GPU.
//
// A plan works on a list of tensors, its slots: first its inputs, then one per allocation, in step
// order. A launch argument is a slot's data pointer or a scalar. The launch function is
// cuLaunchKernel's address, handed over from Python (tests hand over a recorder instead).

#include <torch/extension.h>

#include <c10/core/DeviceGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>

#include <cstring>
#include <limits>
#include <memory>
#include <mutex>

namespace {

using LaunchFunction = int (*)(void* function, unsigned grid_x, unsigned grid_y, unsigned grid_z,
                               unsigned block_x, unsigned block_y, unsigned block_z, unsigned shared_bytes,
                               void* stream, void** params, void** extra);

// Argument kinds; kFloat32 carries the float's bits.
enum ArgKind : int64_t { kSlot = 0, kInt32 = 1, kInt64 = 2, kFloat32 = 3 };
// Triton kernels take two trailing pointers (global and profile scratch); these kernels use neither.
constexpr int kScratchPointers = 2;

struct Launch {
  void* function;
  unsigned grid[3];
  unsigned threads;
  unsigned shared_bytes;
  std::vector<std::pair<int64_t, int64_t>> args;  // (ArgKind, slot or value)
};

struct Step {
  enum Kind { kAlloc, kLaunch } kind;
  std::vector<int64_t> shape;  // kAlloc
  at::ScalarType dtype;        // kAlloc
  Launch launch;               // kLaunch
};

struct Plan {
  int64_t inputs;
  std::vector<Step> steps;
  std::vector<int64_t> outputs;  // slots
};

// Bad plans raise ValueError through pybind11, messages built with std::to_string. Not TORCH_CHECK or
// c10::str: on the H200 machine (torch 2.11) a message formatting an integer crashed the process.
#define REPLAY_CHECK(ok, message) \
  if (!(ok)) throw std::invalid_argument(std::string("flashsign replay: ") + (message))

std::mutex plans_mutex;  // plans are added under the GIL but read by autograd threads without it
std::vector<std::shared_ptr<const Plan>> plans;
LaunchFunction launcher = nullptr;
bool poison = false;  // fill every allocation with NaN (tests: an unwritten element shows)

std::shared_ptr<const Plan> plan_by_id(int64_t id) {
  std::lock_guard<std::mutex> lock(plans_mutex);
  REPLAY_CHECK(id >= 0 && id < static_cast<int64_t>(plans.size()), "no plan " + std::to_string(id));
  return plans[id];
}

unsigned to_unsigned(int64_t value, const char* what) {
  REPLAY_CHECK(value >= 0 && value <= std::numeric_limits<unsigned>::max(),
               std::string("bad ") + what + " " + std::to_string(value));
  return static_cast<unsigned>(value);
}

void launch(const Launch& step, const std::vector<at::Tensor>& slots, void* stream) {
  const size_t count = step.args.size();
  std::vector<int64_t> storage(count + kScratchPointers, 0);  // 8 bytes per argument, little endian
  std::vector<void*> params(count + kScratchPointers);
  for (size_t i = 0; i < count; ++i) {
    const auto [kind, value] = step.args[i];
    if (kind == kSlot) {
      storage[i] = reinterpret_cast<int64_t>(slots[value].data_ptr());
    } else if (kind == kInt32) {
      const int32_t narrow = static_cast<int32_t>(value);
      std::memcpy(&storage[i], &narrow, sizeof narrow);
    } else if (kind == kFloat32) {
      const uint32_t bits = static_cast<uint32_t>(value);
      std::memcpy(&storage[i], &bits, sizeof bits);
    } else {
      storage[i] = value;
    }
  }
  for (size_t i = 0; i < params.size(); ++i) params[i] = &storage[i];
  const int status = launcher(step.function, step.grid[0], step.grid[1], step.grid[2], step.threads, 1, 1,
                              step.shared_bytes, stream, params.data(), nullptr);
  if (status != 0) {
    throw std::runtime_error("flashsign replay: kernel launch failed with CUDA driver error " + std::to_string(status));
  }
}

// Runs a plan on its inputs; returns its output slots.
std::vector<at::Tensor> run(const Plan& plan, std::vector<at::Tensor> slots) {
  REPLAY_CHECK(launcher != nullptr, "no launch function set");
  REPLAY_CHECK(static_cast<int64_t>(slots.size()) == plan.inputs,
               "plan takes " + std::to_string(plan.inputs) + " inputs, got " + std::to_string(slots.size()));
  const c10::Device device = slots[0].device();
  const c10::DeviceGuard guard(device);
  void* stream = device.is_cuda()
      ? c10::impl::getDeviceGuardImpl(device.type())->getStream(device).native_handle()
      : nullptr;
  for (const Step& step : plan.steps) {
    if (step.kind == Step::kAlloc) {
      slots.push_back(poison ? at::full(step.shape, std::numeric_limits<double>::quiet_NaN(),
                                        slots[0].options().dtype(step.dtype))
                             : at::empty(step.shape, slots[0].options().dtype(step.dtype)));
    } else {
      launch(step.launch, slots, stream);
    }
  }
  std::vector<at::Tensor> outputs;
  for (int64_t slot : plan.outputs) outputs.push_back(slots[slot]);
  return outputs;
}

// The autograd node: the forward plan saves its inputs and outputs, which with dO are the
// backward plan's inputs.
struct Replayed : public torch::autograd::Function<Replayed> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, const std::optional<at::Tensor>& key_padding_mask,
                            int64_t forward_plan, int64_t backward_plan) {
    const at::Tensor keep = key_padding_mask ? key_padding_mask->view(at::kChar) : q;
    std::vector<at::Tensor> saved = {q, k, v, keep};
    const std::vector<at::Tensor> outputs = run(*plan_by_id(forward_plan), saved);
    saved.insert(saved.end(), outputs.begin(), outputs.end());
    ctx->save_for_backward(saved);
    ctx->saved_data["backward_plan"] = backward_plan;
    return outputs[0];
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    std::vector<at::Tensor> inputs = ctx->get_saved_variables();
    // As kernels.triton_common.grad_output gives it to the recorded backward: contiguous, 16-byte aligned.
    at::Tensor grad_out = grads[0].contiguous();
    if (reinterpret_cast<uintptr_t>(grad_out.data_ptr()) % 16 != 0) grad_out = grad_out.clone();
    inputs.push_back(grad_out);
    const std::vector<at::Tensor> result = run(*plan_by_id(ctx->saved_data["backward_plan"].toInt()), inputs);
    return {result[0], result[1], result[2], at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

Launch parse_launch(const py::tuple& spec) {
  // (function, (grid_x, grid_y, grid_z), threads, shared_bytes, [(kind, value), ...])
  Launch step;
  step.function = reinterpret_cast<void*>(spec[0].cast<uintptr_t>());
  const auto grid = spec[1].cast<std::vector<int64_t>>();
  REPLAY_CHECK(grid.size() == 3, "a grid has 3 dims");
  for (int i = 0; i < 3; ++i) step.grid[i] = to_unsigned(grid[i], "grid");
  step.threads = to_unsigned(spec[2].cast<int64_t>(), "thread count");
  step.shared_bytes = to_unsigned(spec[3].cast<int64_t>(), "shared memory size");
  step.args = spec[4].cast<std::vector<std::pair<int64_t, int64_t>>>();
  return step;
}

// steps: ("alloc", shape, dtype) | ("launch", function, grid, threads, shared, args).
int64_t add_plan(int64_t inputs, const py::list& steps, const std::vector<int64_t>& outputs) {
  auto plan = std::make_shared<Plan>();
  plan->inputs = inputs;
  int64_t slots = inputs;
  for (const auto& item : steps) {
    const auto spec = item.cast<py::tuple>();
    const auto kind = spec[0].cast<std::string>();
    Step step{};
    if (kind == "alloc") {
      step.kind = Step::kAlloc;
      step.shape = spec[1].cast<std::vector<int64_t>>();
      step.dtype = spec[2].cast<at::ScalarType>();
      ++slots;
    } else {
      REPLAY_CHECK(kind == "launch", "unknown step " + kind);
      step.kind = Step::kLaunch;
      step.launch = parse_launch(spec[py::slice(1, 6, 1)]);
      for (const auto& [arg_kind, value] : step.launch.args) {
        REPLAY_CHECK(arg_kind >= kSlot && arg_kind <= kFloat32, "unknown argument kind " + std::to_string(arg_kind));
        REPLAY_CHECK(arg_kind != kSlot || (value >= 0 && value < slots), "unknown slot " + std::to_string(value));
      }
    }
    plan->steps.push_back(std::move(step));
  }
  for (int64_t slot : outputs) REPLAY_CHECK(slot >= 0 && slot < slots, "unknown output " + std::to_string(slot));
  plan->outputs = outputs;
  std::lock_guard<std::mutex> lock(plans_mutex);
  plans.push_back(std::move(plan));
  return static_cast<int64_t>(plans.size()) - 1;
}

at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                  const std::optional<at::Tensor>& key_padding_mask, int64_t forward_plan, int64_t backward_plan) {
  return Replayed::apply(q, k, v, key_padding_mask, forward_plan, backward_plan);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("add_plan", &add_plan, "Adds a plan (input count, steps, output slots); returns its id");
  m.def("attend", &attend, "FlashSign through a forward plan, differentiable through a backward plan");
  m.def("set_launcher", [](uintptr_t address) { launcher = reinterpret_cast<LaunchFunction>(address); },
        "The launch function's address (cuLaunchKernel's signature)");
  m.def("set_poison", [](bool on) { poison = on; }, "Fill every allocation with NaN first (tests)");
}
