/** Inline stroke icons (24×24 grid), so the app ships no icon font or CDN asset. */
export type IconName =
  | 'plus'
  | 'search'
  | 'menu'
  | 'close'
  | 'send'
  | 'stop'
  | 'paperclip'
  | 'terminal'
  | 'file'
  | 'globe'
  | 'message'
  | 'tool'
  | 'chevron-down'
  | 'chevron-right'
  | 'chevron-left'
  | 'check'
  | 'circle'
  | 'alert'
  | 'pencil'
  | 'trash'
  | 'download'
  | 'monitor'
  | 'sun'
  | 'moon'
  | 'logout'
  | 'arrow-down'
  | 'hand'
  | 'sparkle'
  | 'clock'
  | 'folder'
  | 'external'
  | 'share'
  | 'play'
  | 'pause'
  | 'skip-back'

export const ICON_PATHS: Record<IconName, string[]> = {
  plus: ['M12 5v14', 'M5 12h14'],
  search: ['M11 4a7 7 0 1 0 0 14a7 7 0 1 0 0-14z', 'M20 20l-4-4'],
  menu: ['M4 7h16', 'M4 12h16', 'M4 17h16'],
  close: ['M6 6l12 12', 'M18 6L6 18'],
  send: ['M12 19V5', 'M6 11l6-6l6 6'],
  stop: ['M8 8h8v8H8z'],
  paperclip: ['M20 11.5l-7.8 7.8a5 5 0 0 1-7.1-7.1l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7l-8.5 8.5a1.7 1.7 0 0 1-2.4-2.4l7.8-7.8'],
  terminal: ['M4 5h16v14H4z', 'M8 10l3 2l-3 2', 'M13 15h3'],
  file: ['M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z', 'M14 3v5h5', 'M9 13h6', 'M9 17h4'],
  globe: ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z', 'M3 12h18', 'M12 3c2.5 2.6 3.8 5.6 3.8 9s-1.3 6.4-3.8 9c-2.5-2.6-3.8-5.6-3.8-9S9.5 5.6 12 3z'],
  message: ['M5 5h14a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H10l-5 4v-4H5a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1z'],
  tool: ['M14.5 6.5a4 4 0 0 0-5.3 5.3L4 17v3h3l5.2-5.2a4 4 0 0 0 5.3-5.3l-2.4 2.4l-2.6-.4l-.4-2.6z'],
  'chevron-down': ['M6 9l6 6l6-6'],
  'chevron-right': ['M9 6l6 6l-6 6'],
  'chevron-left': ['M15 6l-6 6l6 6'],
  check: ['M5 12.5l4.5 4.5L19 7.5'],
  circle: ['M12 4a8 8 0 1 0 0 16a8 8 0 1 0 0-16z'],
  alert: ['M12 3l9.5 17h-19z', 'M12 10v4', 'M12 17.2v.1'],
  pencil: ['M4 20h4L19 9l-4-4L4 16z', 'M13.5 6.5l4 4'],
  trash: ['M4 7h16', 'M9 7V4h6v3', 'M6 7l1 13h10l1-13', 'M10 11v6', 'M14 11v6'],
  download: ['M12 4v11', 'M7 10l5 5l5-5', 'M5 20h14'],
  monitor: ['M3 5h18v11H3z', 'M8 20h8', 'M12 16v4'],
  sun: ['M12 8a4 4 0 1 0 0 8a4 4 0 1 0 0-8z', 'M12 2v2', 'M12 20v2', 'M4.9 4.9l1.4 1.4', 'M17.7 17.7l1.4 1.4', 'M2 12h2', 'M20 12h2', 'M4.9 19.1l1.4-1.4', 'M17.7 6.3l1.4-1.4'],
  moon: ['M20 14.5A8 8 0 0 1 9.5 4a8 8 0 1 0 10.5 10.5z'],
  logout: ['M15 4h4v16h-4', 'M10 8l-4 4l4 4', 'M6 12h10'],
  'arrow-down': ['M12 5v14', 'M6 13l6 6l6-6'],
  hand: ['M8 13V6.5a1.5 1.5 0 0 1 3 0V12', 'M11 11V4.5a1.5 1.5 0 0 1 3 0V11', 'M14 11V6.5a1.5 1.5 0 0 1 3 0V14a7 7 0 0 1-7 7h-.5a6 6 0 0 1-4.6-2.2L3.5 16a1.6 1.6 0 0 1 2.4-2.1L8 16'],
  clock: ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z', 'M12 7v5l3 2'],
  sparkle: ['M12 3l1.8 5.2L19 10l-5.2 1.8L12 17l-1.8-5.2L5 10l5.2-1.8z', 'M19 16l.7 1.8l1.8.7l-1.8.7L19 21l-.7-1.8l-1.8-.7l1.8-.7z'],
  folder: ['M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z'],
  external: ['M14 4h6v6', 'M20 4l-9 9', 'M18 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1h5'],
  share: ['M18 3a3 3 0 1 0 0 6a3 3 0 1 0 0-6z', 'M6 9a3 3 0 1 0 0 6a3 3 0 1 0 0-6z', 'M18 15a3 3 0 1 0 0 6a3 3 0 1 0 0-6z', 'M8.6 13.5l6.8 4', 'M15.4 6.5l-6.8 4'],
  play: ['M7 5l12 7l-12 7z'],
  pause: ['M8 5v14', 'M16 5v14'],
  'skip-back': ['M6 5v14', 'M18 5l-9 7l9 7z'],
}
