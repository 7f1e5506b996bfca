/*
   Shell "fixes" for macOS and Linux: download-and-run, hidden dropped files, persistence, Gatekeeper
   bypass. Binaries are filtered out: Mach-O, ELF and PE files embed shell snippets in help texts.
*/

rule SUSP_Shell_Curl_Pipe_Shell_Nov26 {
   meta:
      description = "Script downloads with curl or wget and pipes the download straight into a shell"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1059/004/"
      score = 60
      attack = "T1059.004"
   strings:
      // The download tool anchors the regex (good atoms); bounded gap, same line only.
      $pipe_sh = /(curl|wget)[ \t][^\n\r]{0,400}\|[ \t]{0,4}(sudo[ \t]{1,4})?(\/bin\/)?(ba|z)?sh\b/ nocase
   condition:
      uint32(0) != 0x464c457f and uint16(0) != 0x5a4d
      and uint32(0) != 0xfeedfacf and uint32(0) != 0xcafebabe and uint32(0) != 0xbebafeca
      and filesize < 5MB
      and $pipe_sh
}

rule SUSP_Shell_Chmod_Exec_Hidden_Tmp_Nov26 {
   meta:
      description = "Script makes a hidden file in a temporary directory executable"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1564/001/"
      score = 65
      attack = "T1564.001"
   strings:
      $chmod = /chmod[ \t]{1,4}(-[Rf][ \t]{1,4})?([ugoa]{0,3}\+x|[0-7]?[157][0-7]{2})[ \t]{1,4}["']?(\/private)?(\/var)?\/tmp\/\./
      $shm = /chmod[ \t]{1,4}([ugoa]{0,3}\+x|[0-7]?[157][0-7]{2})[ \t]{1,4}["']?\/dev\/shm\/\./
   condition:
      uint32(0) != 0x464c457f and uint16(0) != 0x5a4d
      and filesize < 5MB
      and ($chmod or $shm)
}

rule SUSP_Shell_LaunchAgent_Install_Nov26 {
   meta:
      description = "Script installs and loads a LaunchAgent or LaunchDaemon (persistence at login)"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1543/001/"
      score = 50
      attack = "T1543.001"
   strings:
      $dir1 = "Library/LaunchAgents/" ascii
      $dir2 = "Library/LaunchDaemons/" ascii
      // "launchctl unload" / "bootout" (uninstallers) do not contain these.
      $load1 = "launchctl load" ascii
      $load2 = "launchctl bootstrap" ascii
      $load3 = "launchctl enable" ascii
   condition:
      uint32(0) != 0x464c457f and uint16(0) != 0x5a4d
      and uint32(0) != 0xfeedfacf and uint32(0) != 0xcafebabe and uint32(0) != 0xbebafeca
      and filesize < 5MB
      and 1 of ($dir*) and 1 of ($load*)
}

rule SUSP_Shell_Quarantine_Removal_Nov26 {
   meta:
      description = "Script deletes the com.apple.quarantine attribute so Gatekeeper does not check a download"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1553/001/"
      score = 45
      attack = "T1553.001"
   strings:
      $xattr = /xattr[ \t]{1,4}(-[a-z]{1,3}[ \t]{1,4}){0,2}-[a-z]{0,2}d[a-z]{0,2}[ \t]{1,4}com\.apple\.quarantine/
   condition:
      uint32(0) != 0xfeedfacf and uint32(0) != 0xcafebabe and uint32(0) != 0xbebafeca
      and filesize < 5MB
      and $xattr
}
