// Apply the saved or system theme before the first paint (no flash of the wrong theme).
// A file, not an inline script: the Content-Security-Policy allows scripts from this origin only.
;(function () {
  var saved = localStorage.getItem('anker.theme')
  var dark = saved ? saved === 'dark' : window.matchMedia('(prefers-color-scheme: dark)').matches
  document.documentElement.dataset.theme = dark ? 'dark' : 'light'
})()
