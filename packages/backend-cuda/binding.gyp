# The CUDA addon. It includes no CUDA header and links no CUDA library: libcuda and NVRTC are
# dlopen'ed at run time (native/loader.cc), so this builds anywhere a C++17 compiler is.
{
  "targets": [
    {
      "target_name": "flexattn_cuda",
      "sources": [
        "native/addon.cc",
        "native/compile.cc",
        "native/device.cc",
        "native/loader.cc",
        "native/memory.cc",
        "native/modules.cc",
        "native/streams.cc",
        "native/util.cc"
      ],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-std=gnu++1y", "-std=gnu++17"],
      "conditions": [
        ["OS=='linux'", { "libraries": ["-ldl"] }],
        ["OS=='mac'", { "xcode_settings": { "CLANG_CXX_LANGUAGE_STANDARD": "c++17", "GCC_ENABLE_CPP_EXCEPTIONS": "YES" } }]
      ]
    }
  ]
}
