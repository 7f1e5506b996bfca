/*
   AppleScript "fixes" that fetch and run code: the GhostCall / GhostHire "zoom_sdk_support.scpt" shape.
   Plain-text AppleScript (.applescript, .scpt saved as text). Compiled scripts: see compiled.yar.
*/

rule MAL_AppleScript_DoShellScript_Curl_Pipe_Nov26 {
   meta:
      description = "AppleScript runs a shell command that downloads code and pipes it into osascript or a shell"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1059/002/"
      score = 85
      attack = "T1059.002"
   strings:
      $dss = "do shell script" ascii nocase
      // The download tool anchors the regex (good atoms); bounded gap, same line only.
      $pipe_sh = /(curl|wget)[ \t][^\n\r]{0,400}\|[ \t]{0,4}(\/bin\/)?(ba|z)?sh\b/ nocase
      $pipe_osa = /(curl|wget)[ \t][^\n\r]{0,400}\|[ \t]{0,4}(\/usr\/bin\/)?osascript/ nocase
   condition:
      filesize < 5MB
      and $dss and 1 of ($pipe*)
}

rule SUSP_AppleScript_DoShellScript_Curl_Nov26 {
   meta:
      description = "AppleScript runs curl or wget through do shell script (downloads from a script)"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1105/"
      score = 50
      attack = "T1105"
   strings:
      $dss = "do shell script" ascii nocase
      $curl = "curl " ascii nocase
      $wget = "wget " ascii nocase
   condition:
      filesize < 5MB
      and $dss and ($curl or $wget)
}

rule SUSP_AppleScript_RunScript_Remote_Nov26 {
   meta:
      description = "AppleScript evaluates code with run script next to a download or shell command"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1059/002/"
      score = 60
      attack = "T1059.002"
   strings:
      $run = "run script" ascii nocase
      $net1 = "curl " ascii nocase
      $net2 = "wget " ascii nocase
      $net3 = "do shell script" ascii nocase
      $net4 = "NSURL" ascii
   condition:
      filesize < 5MB
      and $run and 1 of ($net*)
}

rule SUSP_AppleScript_Fake_Password_Prompt_Nov26 {
   meta:
      description = "AppleScript shows a dialog with a hidden answer field: a fake password prompt"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1056/002/"
      score = 65
      attack = "T1056.002"
   strings:
      $dialog = "display dialog" ascii nocase
      $hidden = "hidden answer" ascii nocase
   condition:
      filesize < 5MB
      and $dialog and $hidden
}
