// Light/dark theme: a link's theme= wins; otherwise the user's stored choice; otherwise the system's.
import type { ThemeChoice } from './url-state.ts';

const STORAGE_KEY = 'meshlens.theme';

export function storedTheme(): ThemeChoice {
  const value = localStorage.getItem(STORAGE_KEY);
  return value === 'light' || value === 'dark' ? value : 'auto';
}

/** Applies the theme for a URL choice; returns the theme actually in effect. */
export function applyTheme(fromUrl: ThemeChoice): 'light' | 'dark' {
  const choice = fromUrl !== 'auto' ? fromUrl : storedTheme();
  if (choice === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = choice;
  return effectiveTheme();
}

export function effectiveTheme(): 'light' | 'dark' {
  const forced = document.documentElement.dataset.theme;
  if (forced === 'light' || forced === 'dark') return forced;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** Stores the opposite of the theme in effect (the toggle). */
export function toggleTheme(): 'light' | 'dark' {
  const next = effectiveTheme() === 'dark' ? 'light' : 'dark';
  localStorage.setItem(STORAGE_KEY, next);
  document.documentElement.dataset.theme = next;
  return next;
}
