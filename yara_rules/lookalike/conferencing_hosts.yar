/*
   Look-alike conferencing hosts: a real host label (us05web, meet.google, teams) on another registrable
   domain. Real hosts (us05web.zoom.us, meet.google.com, teams.microsoft.com) must not match. Every regex
   starts with a literal of 4+ bytes so YARA gets good atoms.
*/

rule SUSP_Lookalike_Zoom_Host_Nov26 {
   meta:
      description = "File contains a host name that imitates Zoom's meeting hosts on another domain"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1583/001/"
      score = 60
      attack = "T1583.001"
   strings:
      $web1 = /us0[0-9]web-zoom/ nocase            // us05web-zoom.biz (real: us05web.zoom.us)
      $web2 = /us0[0-9]webzoom/ nocase
      $web3 = /web0[0-9]{2}zoom\./ nocase          // web071zoom.us
      $other1 = /zoom\.us[-.][a-z0-9-]{2,30}\.[a-z]{2,10}/ nocase   // zoom.us-join.example, zoom.us.evil.example
      $other2 = "support-zoom." ascii wide nocase
      $other3 = "zoom.callservice." ascii wide nocase
      $other4 = "zoom-update." ascii wide nocase
   condition:
      filesize < 50MB
      and 1 of them
}

rule SUSP_Lookalike_Teams_Meet_Host_Nov26 {
   meta:
      description = "File contains a host name that imitates Microsoft Teams or Google Meet on another domain"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1583/001/"
      score = 60
      attack = "T1583.001"
   strings:
      $meet = /meet\.google\.[a-z0-9-]{2,30}\.[a-z]{2,10}/ nocase   // meet.google.us-join.example
      $teams1 = "teams-install." ascii wide nocase
      $teams2 = "teams-update." ascii wide nocase
      $teams3 = "teams-download." ascii wide nocase
      $teams4 = /teams\.microsoft\.[a-z0-9-]{2,30}\.[a-z]{2,10}/ nocase
      $ms = "ms-live.us" ascii wide nocase
      // Capital I in place of l: case-sensitive on purpose.
      $homoglyph = "googIe" ascii wide
   condition:
      filesize < 50MB
      and 1 of them
}
