{
  "targets": [
    {
      "target_name": "olympus_native",
      "sources": [
        "slave/native/module.c",
        "slave/native/fds.c",
        "slave/native/socket.c",
        "slave/native/poller.c",
        "slave/native/reader.c",
        "slave/native/pty.c",
        "slave/native/process.c"
      ],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra"],
      "conditions": [
        ["OS!='linux'", {"type": "none"}]
      ]
    }
  ]
}
