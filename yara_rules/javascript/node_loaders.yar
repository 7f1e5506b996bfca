/*
   Node.js "coding test" loaders (BeaverTail shape): fetch code or a payload, then run it.
*/

rule SUSP_JS_ChildProcess_Remote_Fetch_Nov26 {
   meta:
      description = "JavaScript fetches from the network and runs commands through child_process"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1059/007/"
      score = 50
      attack = "T1059.007"
   strings:
      $cp = "child_process" ascii
      $exec1 = "exec(" ascii
      $exec2 = "execSync(" ascii
      $exec3 = "spawn(" ascii
      $exec4 = "execFile(" ascii
      $net1 = "https.get(" ascii
      $net2 = "http.get(" ascii
      $net3 = "fetch(" ascii
      $net4 = "axios" ascii
      $net5 = "https.request(" ascii
      $net6 = "curl " ascii
   condition:
      uint16(0) != 0x5a4d and uint32(0) != 0x464c457f
      and filesize < 5MB
      and $cp and 1 of ($exec*) and 1 of ($net*)
}

rule MAL_JS_Remote_Code_Eval_Nov26 {
   meta:
      description = "JavaScript evaluates code it has just fetched from the network"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1059/007/"
      score = 75
      attack = "T1059.007"
   strings:
      // The fetch call anchors the regex; the eval must follow within the same statement chain.
      $fetch_eval = /(axios\.get|axios\.post|fetch|https?\.get|request)\([^;]{0,300}(eval|new Function)\(/
   condition:
      uint16(0) != 0x5a4d and uint32(0) != 0x464c457f
      and filesize < 5MB
      and $fetch_eval
}
